"""Consumer throughput of router, sla and metrics on a backlog, side by side in one run with
a bare aiokafka consumer decoding each message of the same topics into its Envelope.

For each service a backlog of ``--events`` mixed events (a desk's day, built by the replay
bench's ``day_of_events``: created, clocks, queued, assigned, presence, status changes to
closed, surveys) is published on topics of its own prefix; router gets a roster of the 40
agents those events name (skills over every category, capacity on every channel), so its
decisions are real. Then the service starts through its public entry point,
``Runtime.start(SPEC, settings)``, and the clock runs until its inbox holds every backlog
event it handles. Round trips are counted on the runtime's engine (every statement, BEGIN,
COMMIT and ROLLBACK, and the pool checkouts, each of which pings first when pre-ping is on);
they include the relay's and the periodic jobs' while the backlog drains.

PostgreSQL runs with fsync and synchronous_commit on, as in production. The same script runs
against another checkout's code (``--as before`` with that checkout's interpreter); it writes
bench/results.json and the README table between the ``bench:consumers`` (or
``bench:consumers-before``) markers."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.intake_throughput import machine  # noqa: E402
from bench.metrics_replay import (  # noqa: E402
    CATEGORIES,
    PREFIX,
    bare_consumer,
    day_of_events,
    publish,
    settled,
)
from bench.report import code_under_test, write_results  # noqa: E402
from tests.round_trips import RoundTrips  # noqa: E402
from tierline_shared.bus.envelope import Envelope  # noqa: E402
from tierline_shared.bus.kafka import ensure_topics  # noqa: E402
from tierline_shared.bus.topics import Topics  # noqa: E402

SERVICES = ("router", "sla", "metrics")
AGENTS = 40  # day_of_events names agent-0 .. agent-39
TIMEOUT_S = 1800


def roster() -> list[dict[str, Any]]:
    skills = {c: 3 for c in CATEGORIES} | {"general": 3}
    return [{"id": f"agent-{i}", "name": f"Agent {i}", "tier": 1 + i % 3,
             "skills": skills, "channels": {"portal": 5, "email": 5, "phone": 1},
             "presence": "available"} for i in range(AGENTS)]


async def load_roster(spec: Any, settings: Any) -> None:
    """The agents, as the roster import writes them, before the consumer starts; their
    presence events are removed from the outbox so the backlog stays what was published."""
    from sqlalchemy import delete

    from tests.helpers import offline_runtime
    from tierline_router.agents.schemas import AgentIn
    from tierline_router.agents.service import upsert_agent
    from tierline_shared.clock import SystemClock

    rt = offline_runtime(spec, settings.database_url, SystemClock())
    try:
        await spec.on_start(rt)  # the routing policy
        async with rt.sessions.begin() as session:
            for agent in roster():
                body = AgentIn.model_validate({k: v for k, v in agent.items() if k != "id"})
                await upsert_agent(rt, session, agent["id"], body)
            await session.execute(delete(spec.outbox))
    finally:
        await rt.engine.dispose()


def handled_types(spec: Any) -> set[str]:
    from tierline_shared.bus.events import EVENT_TYPES

    registry = spec.handlers(None)
    if hasattr(registry, "handles"):  # Handlers by event class (issue 14)
        return {t for t in EVENT_TYPES if registry.handles(t)}
    return set(registry)  # before: a mapping of type strings


async def drain(spec: Any, settings: Any, expected: list[Any]) -> dict[str, Any]:
    """Start the service; wait until its inbox holds every id of ``expected``."""
    from sqlalchemy import func, select

    from tierline_shared.db import make_engine
    from tierline_shared.runtime import Runtime

    inbox = spec.inbox
    watcher = make_engine(settings.database_url)  # its statements are not the service's
    counter = RoundTrips()
    t0 = time.perf_counter()
    runtime = await Runtime.start(spec, settings)
    counter.attach(runtime.engine)
    first_at: float | None = None
    applied = dead = 0
    try:
        async with watcher.connect() as conn:
            while time.perf_counter() - t0 < TIMEOUT_S:
                await asyncio.sleep(0.2)
                total = await conn.scalar(select(func.count()).select_from(inbox))
                await conn.rollback()
                if total and first_at is None:
                    first_at = time.perf_counter() - t0
                dead = dead_lettered(runtime.registry, spec.name)
                if total + dead < len(expected):
                    continue
                applied = await conn.scalar(select(func.count()).select_from(inbox)
                                            .where(inbox.c.event_id.in_(expected)))
                await conn.rollback()
                if applied + dead >= len(expected):
                    break
        elapsed = time.perf_counter() - t0
        counts = dict(counter.counts)
        pre_ping = bool(getattr(runtime.engine.pool, "_pre_ping", False))
    finally:
        await runtime.stop()
        await watcher.dispose()
    if applied + dead < len(expected):
        raise SystemExit(f"{spec.name}: {applied} of {len(expected)} applied in {TIMEOUT_S} s")
    return {"events": len(expected), "seconds": round(elapsed, 3),
            "per_s": round(len(expected) / elapsed),
            "first_applied_after_s": round(first_at or 0.0, 2), "dead_lettered": dead,
            "round_trips": counts, "pool_pre_ping": pre_ping}


def dead_lettered(registry: Any, consumer: str) -> int:
    """Backlog events the consumer gave up on (none expected; counted so a run ends)."""
    return int(sum(sample.value for metric in registry.collect() for sample in metric.samples
                   if sample.name == "tierline_events_consumed_total"
                   and sample.labels.get("consumer") == consumer
                   and sample.labels.get("outcome") == "dead_lettered"))


def retarget(events: list[tuple[str, Envelope]], prefix: str) -> list[tuple[str, Envelope]]:
    return [(prefix + topic[len(PREFIX):], env) for topic, env in events]


def run_service(service: str, n: int, pg: Any, kafka: Any) -> dict[str, Any]:
    import importlib

    from tierline_shared.devstack import create_database
    from tierline_shared.migrate import upgrade
    from tierline_shared.settings import Settings

    spec = importlib.import_module(f"tierline_{service}.app").SPEC
    prefix = f"cb-{service}"
    events = retarget(day_of_events(n), prefix)
    consumed = spec.consumes(Topics(prefix))
    asyncio.run(create_database(pg.url(), f"cb_{service}"))
    url = pg.url().rsplit("/", 1)[0] + f"/cb_{service}"
    upgrade(url, services=(service,))
    settings = Settings(database_url=url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                        topic_prefix=prefix, log_level="WARNING")
    asyncio.run(ensure_topics(kafka.bootstrap_servers, Topics(prefix).all(),
                              partitions=settings.topic_partitions,
                              replication_factor=settings.topic_replication_factor))
    mine = [(t, e) for t, e in events if t in consumed]
    asyncio.run(publish(kafka.bootstrap_servers, mine))
    visible = asyncio.run(settled(kafka.bootstrap_servers, consumed, len(mine), timeout_s=30))
    if service == "router":
        asyncio.run(load_roster(spec, settings))
    types = handled_types(spec)
    expected = [e.id for _, e in mine if e.type in types]
    bare = asyncio.run(bare_consumer(kafka.bootstrap_servers, consumed, parse=True))
    svc = asyncio.run(drain(spec, settings, expected))
    rt = svc["round_trips"]
    out = {"published": len(mine), "visible_at_end_offsets": visible,
           "handled": len(expected), "topics": len(consumed), "bare_parse": bare,
           "service": svc, "ratio": round(svc["per_s"] / bare["per_s"], 4),
           "round_trips_per_event": round(
               sum(v for k, v in rt.items() if k != "checkouts") / len(expected), 2),
           "checkouts_per_event": round(rt["checkouts"] / len(expected), 3)}
    print(f"{service}: {svc['per_s']}/s against {bare['per_s']}/s bare "
          f"({out['ratio']:.3f}x), {out['round_trips_per_event']} round trips per event",
          flush=True)
    return out


def server_settings(pg: Any) -> str:
    async def show() -> str:
        import asyncpg

        conn = await asyncpg.connect(pg.url().replace("postgresql+asyncpg://", "postgresql://"))
        try:
            shown = [f"{name}={await conn.fetchval(f'SHOW {name}')}"
                     for name in ("fsync", "synchronous_commit")]
            return ", ".join(shown)
        finally:
            await conn.close()
    return asyncio.run(show())


def main() -> None:
    from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="backlog per service")
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--as", dest="label", choices=("after", "before"), default="after",
                        help="which entry of results.json and which README table to write")
    args = parser.parse_args()
    services = [s for s in args.services.split(",") if s]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tierline-consumer-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=False)
        kafka = EmbeddedKafka(free_port(), log_path=Path(tmp) / "broker.log")
        pg.start()
        kafka.start()
        try:
            durability = server_settings(pg)
            for service in services:
                results[service] = run_service(service, args.events, pg, kafka)
        finally:
            kafka.stop()
            pg.remove()
    code = code_under_test()
    report = {"events": args.events, "code": code, "postgres": durability,
              "machine": machine(), "services": results,
              "median_ratio": round(statistics.median(r["ratio"] for r in results.values()), 4)}
    lines = [f"Measured on {machine()}; code {code}; PostgreSQL with {durability}; a backlog "
             f"of {args.events:,} mixed events per service (the events of its topics handled "
             f"below), the service started with `Runtime.start` and timed until its inbox "
             f"held every one; the bare consumer reads the same topics in the same run "
             f"(`bench/consumer_throughput.py`):", "",
             "| service | events handled | events/s | bare decode events/s | ratio | "
             "round trips/event | checkouts/event | first applied after | dead-lettered |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for service, r in results.items():
        svc = r["service"]
        lines.append(f"| {service} | {r['handled']:,} | {svc['per_s']:,} | "
                     f"{r['bare_parse']['per_s']:,} | {r['ratio']:.3f}x | "
                     f"{r['round_trips_per_event']} | {r['checkouts_per_event']}"
                     f"{' (pre-ping)' if svc['pool_pre_ping'] else ''} | "
                     f"{svc['first_applied_after_s']} s | {svc['dead_lettered']} |")
    table = "\n".join(lines)
    print(table)
    suffix = "" if args.label == "after" else "_before"
    write_results(f"consumer_throughput{suffix}", report, table,
                  "consumers" if args.label == "after" else "consumers-before")


if __name__ == "__main__":
    main()
