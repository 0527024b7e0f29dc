"""The rebuild's replay split over worker processes by partition number, so decoding and
folding (most of a replay's CPU) use every core.

Every event of a ticket is keyed by its id, so it has the same partition number on every
topic when the topics have the same number of partitions: a worker that reads partition
numbers {0, 3, ...} of every topic sees whole tickets, in order, and its fold is the live
fold of those tickets. Each worker (a forked child) reads its partitions to their ends,
decodes, drops duplicates and folds, and streams the ticket log and inbox rows to the
parent already encoded in PostgreSQL's binary ``COPY`` format
(:mod:`tierline_metrics.events.pgcopy`); the parent copies them in inside its one
transaction as they come, then merges the workers' folds (:func:`fold.merge`) and writes the
rest as the one-process path does. Any worker's failure fails the whole copy, and the
transaction rolls back: a failed rebuild still changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import pickle
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from aiokafka import ConsumerRecord

from tierline_metrics import models
from tierline_metrics.events import pgcopy
from tierline_metrics.events.bulk import (
    INCIDENT_AT,
    TICKET_AT,
    count_escalations,
    facts_rows,
    sort_out,
)
from tierline_metrics.events.fold import Fold, fold, merge
from tierline_shared.bus.handlers import Delivered, Handlers

_LOG, _INBOX, _DONE, _FAILED = b"L", b"I", b"D", b"F"
_SEGMENT = 16 << 20  # bytes of log rows per COPY before the inbox rows that came with them

Replay = Callable[[set[int]], AsyncIterator[list[ConsumerRecord[bytes, bytes]]]]


@dataclass
class Part:
    """What one worker folded, sent once it has read its partitions to their ends: its
    tickets' facts rows already made (``facts``, counted in ``totals``), every other row in
    ``fold``."""

    fold: Fold = field(default_factory=Fold)
    rewrites: list[Delivered[Any]] = field(default_factory=list)
    facts: list[tuple[Any, ...]] = field(default_factory=list)
    totals: Counter[Any] = field(default_factory=Counter)
    applied: int = 0
    skipped: int = 0


def plan(partition_counts: dict[str, int], workers: int) -> list[set[int]] | None:
    """The partition numbers each worker reads (round robin), or None when the replay cannot
    be split: one worker or one partition, or topics with different partition counts (a
    ticket's events would not share a number)."""
    counts = set(partition_counts.values())
    if len(counts) != 1:
        return None
    count = counts.pop()
    workers = min(workers, count)
    if workers < 2:
        return None
    return [set(range(n, count, workers)) for n in range(workers)]


def default_workers(cpus: int | None, partitions: int) -> int:
    """As many workers as partitions, up to two per core: with 3 partitions on 2 cores, 3
    workers of a third each keep both cores busy (2 would split them 2:1)."""
    return max(1, min(partitions, 2 * (cpus or 1)))


class Workers:
    """Forked replay workers and the rows they stream back."""

    def __init__(self, numbers: list[set[int]], replay: Replay, handlers: Handlers) -> None:
        context = multiprocessing.get_context("fork")  # the handlers and settings, as they are
        self._pipes: list[Connection] = []
        self._processes: list[Any] = []
        for mine in numbers:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_work, args=(mine, replay, handlers, send),
                                      name="tierline-replay", daemon=True)
            process.start()
            send.close()  # the child's end: EOF here once the child is gone
            self._pipes.append(receive)
            self._processes.append(process)
        self.inbox: list[bytes] = []
        self.parts: list[Part] = []
        self.error: BaseException | None = None  # the first worker's failure
        self._queue: asyncio.Queue[tuple[int, bytes | None]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []
        # One reading thread per worker (the default executor may have fewer threads).
        self._threads = ThreadPoolExecutor(max_workers=len(numbers),
                                           thread_name_prefix="tierline-replay")

    @property
    def finished(self) -> bool:
        """Every worker sent its fold."""
        return len(self.parts) == len(self._pipes)

    async def log_rows(self, budget: int | None = None) -> AsyncIterator[bytes]:
        """A ``COPY`` stream of the ticket log rows the workers send, ending once about
        ``budget`` bytes went by or every worker is done; the inbox rows and each worker's
        fold are kept aside (``inbox``, ``parts``). Raises a worker's error."""
        if not self._readers:
            self._readers = [asyncio.create_task(_pump(n, pipe, self._queue, self._threads))
                             for n, pipe in enumerate(self._pipes)]
        budget = _SEGMENT if budget is None else budget
        yield pgcopy.HEADER
        while budget > 0 and not self.finished:
            n, message = await self._queue.get()
            if message is None:
                self.error = RuntimeError(
                    f"replay worker {n} ended without sending its fold (exit code "
                    f"{self._processes[n].exitcode})")
                raise self.error
            tag, body = message[:1], message[1:]
            if tag == _LOG:
                budget -= len(body)
                yield body
            elif tag == _INBOX:
                self.inbox.append(body)
            elif tag == _DONE:
                self.parts.append(pickle.loads(body))
            else:
                self.error = pickle.loads(body)
                raise self.error
        yield pgcopy.TRAILER

    async def inbox_rows(self) -> AsyncIterator[bytes]:
        """A ``COPY`` stream of the inbox rows kept so far."""
        chunks, self.inbox = self.inbox, []
        yield pgcopy.HEADER
        for chunk in chunks:
            yield chunk
        yield pgcopy.TRAILER

    def merged(self) -> Part:
        return combine(self.parts)

    def stop(self) -> None:
        """End the workers (at once if they are still reading: the copy failed)."""
        for reader in self._readers:
            reader.cancel()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout=10)
        for pipe in self._pipes:
            pipe.close()
        self._threads.shutdown(wait=False, cancel_futures=True)


def combine(parts: list[Part]) -> Part:
    """Every worker's part in one; each facts row gets its ticket's latest major incident,
    whichever worker read the link (a link is keyed by its incident)."""
    whole = Part()
    for part in parts:
        merge(whole.fold, part.fold)
        whole.rewrites.extend(part.rewrites)
        whole.facts.extend(part.facts)
        whole.totals.update(part.totals)
        whole.applied += part.applied
        whole.skipped += part.skipped
    links, facts = whole.fold.linked, whole.facts
    if links:
        rows = set()
        for n, row in enumerate(facts):
            rows.add(row[TICKET_AT])
            incident = links.get(row[TICKET_AT])
            if incident is not None:
                facts[n] = (*row[:INCIDENT_AT], incident, *row[INCIDENT_AT + 1:])
        only_linked = Fold()  # tickets a link is all the replay knows of
        for ticket_id, incident in links.items():
            if ticket_id not in rows:
                only_linked.ticket(ticket_id).set(major_incident_id=incident)
        facts.extend(facts_rows(only_linked.facts, whole.totals))
    return whole


def finish(part: Part) -> Part:
    """Make a worker's facts rows. Every event of its tickets was read here (keyed by
    ticket) but a major incident's links (keyed by the incident): those are left to
    :func:`combine`, which has every worker's."""
    whole = part.fold
    count_escalations(whole)
    for ticket_id in whole.linked:
        row = whole.facts[ticket_id]
        row.changes.pop("major_incident_id", None)
        if not row.changes:  # a ticket only linked here: combine makes its row
            del whole.facts[ticket_id]
    part.facts = facts_rows(whole.facts, part.totals)
    whole.facts = {}
    return part


async def copy_in(raw: Any, workers: Workers) -> Part:
    """Copy the workers' log and inbox rows in on ``raw`` (an asyncpg connection inside the
    rebuild's transaction) as they come, a segment of the log then the inbox rows that came
    with it (one ``COPY`` at a time on a connection), so little is left to copy once the
    workers are done; the merged fold of every worker."""
    log, inbox = models.ticket_log, models.inbox
    while True:
        try:
            await raw.copy_to_table(log.name, schema_name=log.schema, format="binary",
                                    columns=["event_id", "ticket_id", "event_type", "at",
                                             "body"],
                                    source=workers.log_rows())
        except Exception:
            if workers.error is not None:  # asyncpg reports a source's error as its own
                raise workers.error from None
            raise
        if workers.inbox:
            await raw.copy_to_table(inbox.name, schema_name=inbox.schema, format="binary",
                                    columns=["event_id", "event_type", "topic"],
                                    source=workers.inbox_rows())
        if workers.finished:
            return workers.merged()


async def _pump(n: int, pipe: Connection, queue: asyncio.Queue[tuple[int, bytes | None]],
                threads: ThreadPoolExecutor) -> None:
    """Move worker ``n``'s messages onto ``queue`` until its last (None: it went away)."""
    loop = asyncio.get_running_loop()
    while True:
        message = await loop.run_in_executor(threads, _receive, pipe)
        await queue.put((n, message))
        if message is None or message[:1] in (_DONE, _FAILED):
            return


def _receive(pipe: Connection) -> bytes | None:
    try:
        return pipe.recv_bytes()
    except (EOFError, OSError):
        return None


def _work(numbers: set[int], replay: Replay, handlers: Handlers, out: Connection) -> None:
    """A worker process: read, decode and fold partitions ``numbers``; stream the rows."""
    gc.disable()  # as in the parent: the fold only grows, there are no cycles to find
    try:
        part = finish(asyncio.run(_fold_partitions(numbers, replay, handlers, out)))
        out.send_bytes(_DONE + pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the parent
        with contextlib.suppress(Exception):
            try:
                payload = pickle.dumps(exc)
            except Exception:  # noqa: BLE001 - an exception that does not pickle
                payload = pickle.dumps(RuntimeError(repr(exc)))
            out.send_bytes(_FAILED + payload)
    finally:
        out.close()


async def _fold_partitions(numbers: set[int], replay: Replay, handlers: Handlers,
                           out: Connection) -> Part:
    part = Part()
    seen: set[int] = set()
    for_each = handlers.handles
    async for records in replay(numbers):
        folded: list[Delivered[Any]] = []
        inbox: list[tuple[Any, str, str]] = []
        applied = sort_out(records, seen, for_each, folded, part.rewrites, inbox)
        part.applied += applied
        part.skipped += len(records) - applied
        fold(folded, into=part.fold)
        log, part.fold.log = part.fold.log, []
        if log:
            out.send_bytes(_LOG + b"".join(
                [pgcopy.log_row(event_id, ticket_id, kind, at, body.encode())
                 for event_id, ticket_id, kind, at, body in log]))
        if inbox:
            out.send_bytes(_INBOX + b"".join(
                [pgcopy.inbox_row(event_id, kind, topic) for event_id, kind, topic in inbox]))
    return part

