"""End-to-end assignment latency through Kafka: from the moment a client POSTs a ticket to
intake until the router's assignment event for it arrives on the routing topic, at fixed
offered loads, with PostgreSQL, the broker, intake and router running on this machine.

Side by side in the same run: the same clients' round trip to intake's /healthz (the
ceiling of one HTTP exchange). Offered loads are open-loop (sends are scheduled, not paced by
answers), ``BENCH_SECONDS`` each (60 by default). Each POST carries the Idempotency-Key a
desk sends.

The agents accept every offer they get, as agents at a desk do (``desk``, in a process of
its own, through router's API). Agents who never answered let each load's offers time out
after 120 s, and router's offer job then set every one of those no-shows away and re-routed
their offers, a storm that swamped the later loads' figures (measuring the bench's agents,
not the product). The accept is not part of the latency, which still ends when the offer
event is read here.

Writes bench/results.json and the README table between the ``bench:latency`` markers
(neither under ``BENCH_DRY``); the same script runs against another checkout's code (``--as
before``, with that checkout on the interpreter's path) and writes the ``bench:latency-before``
table, so both are measured back to back on the same machine."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime
from multiprocessing.connection import Connection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import code_under_test, write_results  # noqa: E402
from tierline_shared.auth.keys import generate  # noqa: E402
from tierline_shared.bus.envelope import decode  # noqa: E402
from tierline_shared.bus.topics import Topics  # noqa: E402
from tierline_shared.devstack import (  # noqa: E402
    ServiceProcesses,
    create_database,
    service_env,
    wait_ready,
)
from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port  # noqa: E402
from tierline_shared.migrate import upgrade  # noqa: E402
from tierline_shared.settings import Settings  # noqa: E402

LOADS = [int(n) for n in os.environ.get("BENCH_LOADS", "20,50,100,300").split(",")]
SECONDS = int(os.environ.get("BENCH_SECONDS", "60"))  # per offered load
CAPACITY = 50  # per agent on the portal channel, the most the roster API allows


def roster(rate: int) -> list[dict]:
    """A shift of agents for one offered load, enough that none runs out of capacity
    (tickets are never closed in this bench, and an accepted ticket keeps its place in its
    agent's capacity as an offered one does): at least 40, each taking 50 portal tickets."""
    count = max(40, math.ceil(rate * SECONDS * 1.2 / CAPACITY))
    return [{"id": f"agent-{rate}-{n}", "name": f"Agent {n}", "tier": 1,
             "skills": {"general": 3}, "channels": {"portal": CAPACITY, "api": CAPACITY},
             "max_total": 2 * CAPACITY} for n in range(count)]


def new_shift(router: str, key: str, rate: int) -> None:
    """A fresh shift sized for ``rate`` joins the earlier ones (whose spare capacity may
    still take work)."""
    with httpx.Client(base_url=router, headers={"X-API-Key": key}, timeout=120) as client:
        client.post("/v1/agents/import", json={"agents": roster(rate)}).raise_for_status()


def desk_key(router: str, key: str) -> str:
    """The key the agents' desk answers offers with: ``agents:write`` and bound to no agent,
    as a desk integration acting for its agents holds (an agent's own key would be bound to
    them; one key keeps hundreds of agents out of the key cache's way)."""
    with httpx.Client(base_url=router, headers={"X-API-Key": key}, timeout=30) as client:
        r = client.post("/v1/keys", json={"name": "bench desk", "scopes": ["agents:write"]})
        r.raise_for_status()
        return r.json()["key"]


# The agents at their desk. No think time: each offer is accepted as soon as the desk reads
# it, which its fetch wait bounds (DESK_FETCH_WAIT_MS); a person takes seconds, but any
# answer well inside router's 120 s offer timeout costs router the same work, and a prompt
# one keeps the open offers few. At most DESK_ACCEPTS accepts are in flight (one keep-alive
# connection each), so a slow router queues them here rather than piling up connections.
DESK_ACCEPTS = 8
DESK_FETCH_WAIT_MS = 20
DESK_TIMEOUT_S = 30
OFFERED = "tierline.ticket.assigned.v1"


class Line:
    """One keep-alive HTTP/1.1 connection to router, one request at a time; opened again
    after an error or a ``Connection: close``.

    The desk's accepts go through this rather than httpx: over a 10 s load at 100/s (1,000
    accepts; the desk's whole CPU for that load, its idle reads included) the desk took
    4.0 s of CPU with httpx, 2.6 s once httpx's failed ``import sniffio`` on every request
    was avoided, and 1.3 s with this; at 300/s httpx would take some 0.4 of a core more of
    the two, from the services being measured. Router answers with a Content-Length (any
    other answer counts as a failed accept)."""

    def __init__(self, router: str, key: str) -> None:
        where = urlsplit(router)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 80
        self.head = (f"Host: {where.netloc}\r\nX-API-Key: {key}\r\n"
                     "Content-Type: application/json\r\n").encode()
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.streams is not None and (self.streams[0].at_eof()
                                         or self.streams[1].is_closing()):
            self.close()  # router closed it while idle (uvicorn does after 5 s)
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        try:
            writer.write(b"POST %s HTTP/1.1\r\n%sContent-Length: %d\r\n\r\n%s"
                         % (path.encode(), self.head, len(body), body))
            await writer.drain()
            head = (await reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
            status = int(head[0].split(b" ", 2)[1])
            fields = {}
            for line in head[1:-2]:
                name, _, value = line.partition(b":")
                fields[name.strip().lower()] = value.strip().lower()
            if b"content-length" not in fields:
                raise ValueError("an answer without Content-Length")
            answer = await reader.readexactly(int(fields[b"content-length"]))
        except BaseException:
            self.close()
            raise
        if fields.get(b"connection") == b"close":
            self.close()
        return status, answer

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


def desk_process(conn: Connection, bootstrap: str, topic: str, router: str, key: str) -> None:
    asyncio.run(desk(conn, bootstrap, topic, router, key))


async def desk(conn: Connection, bootstrap: str, topic: str, router: str, key: str) -> None:
    """Accept every offer read on ``topic`` through router's API, counting what came of each.

    In a process of its own, so the accepts' HTTP work never delays the stamps
    ``offered_load`` takes on its event loop. Answers on ``conn``: "ready" once its
    partitions are assigned; to ``("counts", drain_s)`` its running totals, after waiting
    up to ``drain_s`` for the offers read so far to be answered; to ``("stop",)`` the same
    without waiting, and it ends."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest",
                                fetch_max_wait_ms=DESK_FETCH_WAIT_MS)
    await consumer.start()
    counts: Counter[str] = Counter()
    offers: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    answered: set[tuple[str, int]] = set()  # (ticket, attempt): a redelivery is not re-answered

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    if dict(r.headers).get("ce_type", b"").decode() != OFFERED:
                        continue
                    offer = decode(r.headers, r.value).event
                    if (str(offer.ticket_id), offer.attempt) in answered:
                        continue
                    answered.add((str(offer.ticket_id), offer.attempt))
                    counts["offers"] += 1
                    offers.put_nowait((str(offer.ticket_id), offer.agent_id))

    def failed(why: str) -> None:
        counts["failed"] += 1
        counts[f"failed: {why}"] += 1

    async def agent(line: Line) -> None:
        while True:
            ticket, agent_id = await offers.get()
            try:
                async with asyncio.timeout(DESK_TIMEOUT_S):
                    status, answer = await line.post(
                        f"/v1/assignments/{ticket}/accept",
                        json.dumps({"agent_id": agent_id}).encode())
                if status == 200:
                    counts["accepted"] += 1
                else:
                    try:
                        failed(f"{status} {json.loads(answer)['error']}")
                    except (ValueError, KeyError, TypeError):
                        failed(str(status))
            # a refused, dropped, slow or unreadable answer: counted and shown, never fatal
            except (OSError, EOFError, ValueError, IndexError, asyncio.LimitOverrunError) as exc:
                failed(type(exc).__name__)
            finally:
                offers.task_done()

    lines = [Line(router, key) for _ in range(DESK_ACCEPTS)]
    try:
        tasks = [asyncio.create_task(read()), *(asyncio.create_task(agent(line))
                                                for line in lines)]
        await asyncio.sleep(1.0)  # partitions assigned before the first offer
        conn.send("ready")
        while True:
            try:
                command = await asyncio.to_thread(conn.recv)
            except EOFError:  # the bench is gone
                break
            if command[0] == "counts":
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(offers.join(), command[1])
            conn.send({**counts, "pending": offers.qsize(),
                       "cpu_ms": round(time.process_time() * 1e3)})
            if command[0] == "stop":
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for line in lines:
            line.close()
        await consumer.stop()


class Desk:
    """The desk process, seen from the bench: its counts load by load."""

    def __init__(self, bootstrap: str, topic: str, router: str, key: str) -> None:
        self.conn, theirs = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=desk_process, args=(theirs, bootstrap, topic, router, key), daemon=True)
        self.process.start()
        self.last: Counter[str] = Counter()
        self.ask_ready()

    def ask_ready(self) -> None:
        if not self.conn.poll(60) or self.conn.recv() != "ready":
            raise RuntimeError("the agents' desk did not start")

    def since_last(self, drain_s: float) -> dict:
        """What the desk did since the previous call (offers read then count towards the
        next load), once the offers read so far are answered or ``drain_s`` has passed."""
        self.conn.send(("counts", drain_s))
        if not self.conn.poll(drain_s + 30):
            raise RuntimeError("the agents' desk stopped answering")
        now = Counter(self.conn.recv())
        pending = now.pop("pending", 0)
        diff, self.last = now - self.last, now
        return {"offers_read": diff["offers"], "offers_accepted": diff["accepted"],
                "accept_failed": diff["failed"],
                "accept_failures": {k.removeprefix("failed: "): v for k, v in diff.items()
                                    if k.startswith("failed: ")},
                "accepts_pending": pending, "desk_cpu_ms": diff["cpu_ms"]}

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError):
            self.conn.send(("stop",))
            self.conn.poll(10)
        self.process.join(10)
        if self.process.is_alive():
            self.process.kill()


def body(n: int) -> dict:
    return {"title": f"VPN keeps disconnecting ({n})",
            "description": "The VPN drops every few minutes since this morning",
            "requester": {"id": f"u-{n % 500}", "name": "Ada"}, "channel": "portal",
            "impact": "low", "urgency": "low"}


async def offered_load(intake: str, topic: str, bootstrap: str, rate: int, key: str) -> dict:
    sent: dict[str, float] = {}
    answered: list[float] = []
    arrived: dict[str, float] = {}
    # Where the time goes, by the wall clock all processes share on this machine: the POST
    # sent, intake's created_at, router's decision (the assignment's assigned_at), the event
    # read here.
    stamps: dict[str, dict[str, float]] = {}
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                                auto_offset_reset="latest", fetch_max_wait_ms=5)
    await consumer.start()
    await asyncio.sleep(1.0)  # partitions assigned before the first send
    failures = 0
    all_sent, all_arrived = asyncio.Event(), asyncio.Event()

    async def read() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    kind = dict(r.headers).get("ce_type", b"").decode()
                    if kind == "tierline.ticket.assigned.v1" and r.key:
                        ticket = r.key.decode()
                        if ticket not in arrived:
                            arrived[ticket] = now
                            stamps.setdefault(ticket, {}).update(
                                read=time.time(),
                                decided=decode(r.headers, r.value).event.assigned_at.timestamp())
            if all_sent.is_set() and set(sent) <= set(arrived):
                all_arrived.set()

    reader = asyncio.create_task(read())
    async with httpx.AsyncClient(base_url=intake, timeout=30, headers={"X-API-Key": key},
                                 limits=httpx.Limits(max_connections=64)) as client:
        # Requests beyond the 64 connections wait here, not in httpx's pool, whose queue
        # costs time in proportion to its length on every answer (at 300/s against a
        # saturated intake that stalled the client itself); one that waits over 30 s gives
        # up, as a client would, and counts as refused.
        slots = asyncio.Semaphore(64)

        async def post(n: int) -> None:
            nonlocal failures
            start, wall = time.perf_counter(), time.time()
            try:
                await asyncio.wait_for(slots.acquire(), 30)
            except TimeoutError:
                failures += 1
                return
            try:
                r = await client.post("/v1/tickets", json=body(n),
                                      headers={"Idempotency-Key": str(uuid.uuid4())})
            except httpx.HTTPError:  # a refused or dropped connection counts as refused
                failures += 1
                return
            finally:
                slots.release()
            answered.append(time.perf_counter() - start)
            if r.status_code == 201:
                ticket = r.json()
                sent[ticket["id"]] = start
                stamps.setdefault(ticket["id"], {}).update(
                    sent=wall, answered=time.time(),
                    created=datetime.fromisoformat(ticket["created_at"]).timestamp())
            else:
                failures += 1

        t0, tasks = time.perf_counter(), []
        for n in range(rate * SECONDS):
            delay = t0 + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(n)))
        await asyncio.gather(*tasks)
        backlog = len(set(sent) - set(arrived))  # accepted but not yet assigned
        all_sent.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_arrived.wait(), 30)
        # Up to 200 samples, for at most 10 s: behind a backlog intake may answer slowly.
        health: list[float] = []
        stop = time.perf_counter() + 10
        while len(health) < 200 and time.perf_counter() < stop:
            start = time.perf_counter()
            with contextlib.suppress(httpx.HTTPError):
                await client.get("/healthz", timeout=10)
                health.append(time.perf_counter() - start)
    reader.cancel()
    await consumer.stop()
    latencies = [arrived[t] - s for t, s in sent.items() if t in arrived]
    q = quantiles(latencies)
    hops = {name: quantiles([s[b] - s[a] for t, s in stamps.items()
                             if t in sent and t in arrived])
            for name, (a, b) in HOPS.items()}
    hq = quantiles(health)
    pq = quantiles(answered)
    return {"offered_per_s": rate, "tickets": len(sent), "assigned": len(latencies),
            "rejected": failures, "backlog_at_end": backlog,
            "p50_ms": round(q[49] * 1e3, 1), "p99_ms": round(q[98] * 1e3, 1),
            "post_p50_ms": round(pq[49] * 1e3, 1), "healthz_p50_ms": round(hq[49] * 1e3, 2),
            "hops_ms": {name: {"p50": round(h[49] * 1e3, 1), "p90": round(h[89] * 1e3, 1),
                               "p99": round(h[98] * 1e3, 1)} for name, h in hops.items()}}


# The legs of POST-to-assignment, between the stamps ``offered_load`` keeps.
HOPS = {"POST sent -> intake's created_at": ("sent", "created"),
        "created_at -> POST answered": ("created", "answered"),
        "created_at -> router's decision": ("created", "decided"),
        "router's decision -> event read": ("decided", "read")}


def failures(r: dict) -> str:
    """Accepts that failed, by answer (e.g. ``3 (409 no_open_offer: 3)``), and offers still
    unanswered when the counts were taken."""
    text = str(r["accept_failed"])
    if r["accept_failures"]:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in sorted(r["accept_failures"].items())) + ")"
    if r["accepts_pending"]:
        text += f", {r['accepts_pending']} pending"
    return text


def quantiles(values: list[float]) -> list[float]:
    """Percentiles 1-99; NaN when too few values (a load at which nothing got through)."""
    if len(values) < 2:
        return [math.nan] * 99
    return statistics.quantiles(values, n=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--as", dest="label", choices=("after", "before"), default="after",
                        help="which entry of results.json and which README table to write")
    label = parser.parse_args().label
    with tempfile.TemporaryDirectory(prefix="tierline-latency-") as tmp:
        # fsync and synchronous_commit on, as in production
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=False)
        kafka = EmbeddedKafka(free_port(), log_path=Path(tmp) / "broker.log")
        pg.start()
        kafka.start()
        procs = desk = None
        try:
            asyncio.run(create_database(pg.url(), "latency"))
            url = pg.url().rsplit("/", 1)[0] + "/latency"
            upgrade(url)
            key = generate().plaintext
            settings = Settings(database_url=url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                                environment="test", bootstrap_admin_key=key,
                                rate_limit_per_s=10_000, rate_limit_burst=10_000,
                                topic_prefix="bench", intake_port=free_port(),
                                router_port=free_port(), log_level="WARNING")
            procs = ServiceProcesses(env=service_env(settings), services=("intake", "router"),
                                     log_dir=Path(tmp))
            procs.start_all()
            urls = {s: settings.url_for(s) for s in ("intake", "router")}
            wait_ready(urls, procs=procs)
            topic = Topics("bench").routing
            desk = Desk(kafka.bootstrap_servers, topic, urls["router"],
                        desk_key(urls["router"], key))
            results = []
            for rate in LOADS:
                new_shift(urls["router"], key, rate)
                result = asyncio.run(offered_load(urls["intake"], topic,
                                                  kafka.bootstrap_servers, rate, key))
                results.append({**result, **desk.since_last(drain_s=30)})
                print(f"{rate}/s: the agents accepted {results[-1]['offers_accepted']} of "
                      f"{results[-1]['offers_read']} offers read, failed "
                      f"{failures(results[-1])}; the desk's CPU "
                      f"{results[-1]['desk_cpu_ms']} ms", flush=True)
        finally:
            if desk is not None:
                desk.stop()
            if procs is not None:
                procs.stop_all()
            kafka.stop()
            pg.remove()
    lines = [f"Measured on {platform.machine()}, CPython {platform.python_version()}, code "
             f"{code_under_test()}, one intake "
             "and one router process, embedded PostgreSQL 18 (fsync and synchronous_commit on) "
             f"and the tansu broker on the same machine, {SECONDS} s per offered load, each adding "
             "a shift of agents with room for all of it, who accept every offer through "
             f"router's API as soon as they read it ({DESK_ACCEPTS} accepts in flight at "
             "most, not part of the latency); backlog: "
             "accepted tickets not yet assigned when the load stopped (`make bench`):", "",
             "| offered load | accepted (201) | refused | backlog | assigned | p50 POST to "
             "assignment "
             "event | p99 | p50 of the POST itself | ceiling: p50 of one HTTP round trip "
             "(/healthz) | offers the agents accepted | accepts failed |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['offered_per_s']}/s | {r['tickets']} | {r['rejected']} | "
                     f"{r['backlog_at_end']} | "
                     f"{r['assigned']} | {r['p50_ms']} ms | {r['p99_ms']} ms | "
                     f"{r['post_p50_ms']} ms | {r['healthz_p50_ms']} ms | "
                     f"{r['offers_accepted']} of {r['offers_read']} | {failures(r)} |")
    lines += ["", "Where the time goes (p50 / p90 / p99, ms), from the wall clock intake, router "
              "and this client share: intake's `created_at`, the assignment's `assigned_at` "
              "(router's decision), the event read here:", "",
              "| offered load | " + " | ".join(HOPS) + " |",
              "| ---: |" + " ---: |" * len(HOPS)]
    for r in results:
        lines.append(f"| {r['offered_per_s']}/s | " + " | ".join(
            "{p50} / {p90} / {p99}".format(**r["hops_ms"][name]) for name in HOPS) + " |")
    table = "\n".join(lines)
    print(table)
    if label == "after":
        write_results("e2e_assignment_latency", results, table, "latency")
    else:
        write_results("e2e_assignment_latency_before", results, table, "latency-before")


if __name__ == "__main__":
    main()
