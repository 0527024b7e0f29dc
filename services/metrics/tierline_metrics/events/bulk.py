"""The rebuild's fast path: the whole replay folded in memory and copied in with ``COPY``
(the tables were emptied in the same transaction, so nothing is merged). Rows that only
accumulate (the ticket log, the inbox) are copied batch by batch while the next batch is
read and folded, so PostgreSQL works on one while Python decodes the other; the rows a
later event may still change (ticket facts, major incidents, problems) at the end, with the
counter totals they sum to (:mod:`tierline_metrics.events.counters`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections import Counter
from collections.abc import Callable
from typing import Any
from uuid import UUID

from aiokafka import ConsumerRecord
from sqlalchemy import Table

from tierline_metrics import models
from tierline_metrics.events import counters
from tierline_metrics.events.fold import FOLDED, Fold, Row, fold
from tierline_shared.bus.envelope import InvalidMessage, decode
from tierline_shared.bus.handlers import Delivered, Handlers
from tierline_shared.unit_of_work import UnitOfWork

# Values of the columns a row does not name: the tables' server defaults.
_DEFAULTS: dict[str, Any] = {**counters.DEFAULTS, "escalations": 0, "functional_escalations": 0,
                             "first_response_breached": False, "resolution_breached": False,
                             "update_breached": False, "ticket_count": 0, "updates_due": 0}
_FOLDED = frozenset(cls.event_type for cls in FOLDED)


class Copier:
    """Copies a replay in, a fetched batch at a time, inside ``uow``'s transaction."""

    def __init__(self, handlers: Handlers, uow: UnitOfWork) -> None:
        self._handlers = handlers
        self._uow = uow
        self._fold = Fold()
        self._seen: set[int] = set()  # event ids, as integers
        self._inbox: list[tuple[UUID, str, str]] = []
        self._rewrites: list[Delivered[Any]] = []  # erasures, applied once the rows are in
        self._raw: Any = None
        self._copying: asyncio.Task[None] | None = None

    async def add(self, records: list[ConsumerRecord[bytes, bytes]], outcome: Any) -> None:
        """Fold ``records``; copy their log and inbox rows while the caller reads on."""
        folded: list[Delivered[Any]] = []
        applied = 0
        for start in range(0, len(records), 250):
            if start:  # let the copy under way send on while this batch decodes
                await asyncio.sleep(0)
            applied += sort_out(records[start:start + 250], self._seen, self._handlers.handles,
                                folded, self._rewrites, self._inbox)
        outcome.applied += applied
        outcome.skipped += len(records) - applied
        fold(folded, into=self._fold)
        log, self._fold.log = self._fold.log, []
        inbox, self._inbox = self._inbox, []
        await self._settle()
        self._copying = asyncio.create_task(self._append(await self._connection(), log, inbox))

    async def _connection(self) -> Any:
        if self._raw is None:
            connection = await self._uow.session.connection()
            self._raw = (await connection.get_raw_connection()).driver_connection
        return self._raw

    async def _settle(self) -> None:
        """Wait for the copy under way (one at a time on the connection); raise its error."""
        copying, self._copying = self._copying, None
        if copying is not None:
            await copying

    async def close(self) -> None:
        """Let a copy under way end before the transaction does (its error, if any, is
        already on its way up with the one that stopped the replay)."""
        copying, self._copying = self._copying, None
        if copying is not None:
            with contextlib.suppress(Exception):
                await copying

    @staticmethod
    async def _append(raw: Any, log: list[Any], inbox: list[Any]) -> None:
        await _copy(raw, models.ticket_log, ["event_id", "ticket_id", "event_type", "at", "body"],
                    log)
        await _copy(raw, models.inbox, ["event_id", "event_type", "topic"], inbox)

    async def write(self) -> None:
        """Copy the rest once every batch was added, then apply the erasures."""
        await self._settle()
        await write_folded(await self._connection(), self._fold, self._rewrites,
                           self._handlers, self._uow)


def sort_out(records: list[ConsumerRecord[bytes, bytes]], seen: set[int],
             handles: Callable[[str], bool], folded: list[Delivered[Any]],
             rewrites: list[Delivered[Any]], inbox: list[tuple[UUID, str, str]]) -> int:
    """Decode ``records``; append each new event metrics handles to ``folded`` (or, for the
    erasures, to ``rewrites``) and its inbox row to ``inbox``; return how many were new.
    Invalid messages, duplicates (by id, in ``seen``) and events metrics does not handle are
    left out, as the live consumer leaves them out."""
    applied = 0
    for record in records:
        try:
            envelope = decode(list(record.headers or ()), record.value)
        except InvalidMessage:
            continue
        kind, event_id = envelope.type, envelope.id
        key = event_id.int  # hashed in C, unlike the UUID
        if key in seen or not handles(kind):
            continue
        seen.add(key)
        inbox.append((event_id, kind, record.topic))
        delivered: Delivered[Any] = Delivered(envelope, record.topic, record.value)
        if kind in _FOLDED:
            folded.append(delivered)
        else:
            rewrites.append(delivered)
        applied += 1
    return applied


def count_escalations(out: Fold) -> None:
    """Set each escalated ticket's escalation counts from the fold's escalations."""
    escalated = Counter(row["ticket_id"] for row in out.escalations)
    functional = Counter(row["ticket_id"] for row in out.escalations
                         if row["kind"] == "functional")
    for ticket_id, row in out.facts.items():
        if ticket_id in escalated:
            row.set(escalations=escalated[ticket_id],
                    functional_escalations=functional[ticket_id])


def facts_rows(facts: dict[UUID, Row], totals: counters.Totals) -> list[tuple[Any, ...]]:
    """The ticket facts rows, every column in the table's order; what they count is added
    to ``totals``."""
    out = []
    for key, row in facts.items():
        values = _full(models.ticket_facts, key, row)
        counters.ticket(values, totals)
        out.append(tuple(values.values()))
    return out


# Where a facts row (``facts_rows``) holds its ticket and its major incident.
FACTS_COLUMNS = [c.name for c in models.ticket_facts.columns]
TICKET_AT = FACTS_COLUMNS.index("ticket_id")
INCIDENT_AT = FACTS_COLUMNS.index("major_incident_id")


async def write_folded(raw: Any, out: Fold, rewrites: list[Delivered[Any]], handlers: Handlers,
                       uow: UnitOfWork, facts: list[tuple[Any, ...]] | None = None,
                       totals: counters.Totals | None = None) -> None:
    """Copy the rows of a whole replay's fold a later event may still have changed (facts,
    major incidents, problems), the accumulated ones left (presence, SLA events,
    escalations) and the counter totals they sum to; then apply the erasures. ``facts``:
    the facts rows already made (by the replay's workers, their counts in ``totals``)
    instead of ``out.facts``."""
    if facts is None:
        count_escalations(out)
        totals = Counter()
        facts = facts_rows(out.facts, totals)
    assert totals is not None
    children = Counter(row[INCIDENT_AT] for row in facts if row[INCIDENT_AT] is not None)
    for incident_id, row in out.major_incidents.items():
        if incident_id in out.incidents_linked:
            row.set(ticket_count=children[incident_id])
    await _copy(raw, models.ticket_facts, FACTS_COLUMNS, facts)
    for table, rows, count in ((models.major_incidents, out.major_incidents, counters.incident),
                               (models.problems, out.problems, counters.problem)):
        names = [c.name for c in table.columns]
        full = [_full(table, key, row) for key, row in rows.items()]
        for values in full:
            count(values, totals)
        await _copy(raw, table, names, [tuple(values.values()) for values in full])
    await _copy(raw, models.presence_log, ["agent_id", "at", "presence"],
                list({(a, at): (a, at, p) for a, at, p in reversed(out.presence)}.values()))
    for table, dicts, key_of in ((models.sla_events, out.sla_events, counters.sla_event),
                                 (models.escalations, out.escalations, counters.escalation)):
        names = [c.name for c in table.columns]
        totals.update(key_of(d) for d in dicts)
        await _copy(raw, table, names, [tuple(d.get(n) for n in names) for d in dicts])
    await _copy(raw, models.counter_totals, ["name", "a", "b", "value"],
                [(*key, n) for key, n in sorted(totals.items())])
    await handlers.apply(uow, rewrites)


def _full(table: Table, key: UUID, row: Row) -> dict[str, Any]:
    """Every column of the row, in the table's order: the fold's values, else the server
    default."""
    key_name, template = _template(table)
    values = template.copy()
    values[key_name] = key
    for name, (_, value) in row.changes.items():
        values[name] = value
    if len(values) != len(template):  # a change to no column of the table: left out
        return {name: values[name] for name in template}
    return values


@functools.cache
def _template(table: Table) -> tuple[str, dict[str, Any]]:
    """The table's key column, and every column with its server default, in order."""
    return (next(iter(table.primary_key.columns)).name,
            {c.name: _DEFAULTS.get(c.name) for c in table.columns})


async def _copy(raw: Any, table: Table, columns: list[str], rows: list[Any]) -> None:
    if rows:
        await raw.copy_records_to_table(table.name, schema_name=table.schema, columns=columns,
                                        records=rows)
