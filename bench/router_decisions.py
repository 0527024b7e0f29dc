"""Router decisions per second at 10,000 agents and 100,000 queued tickets, on PostgreSQL.

Side by side in one run: (1) a new ticket routed (rules, candidate query, choice, agent
lock, offer row, load, history, outbox event) in its own transaction; (2) an agent freeing
capacity and being offered the best waiting ticket out of 100,000; the ceilings: (3) a bare
transaction of one indexed read and two writes on the same database, (4) the pure matcher
choosing among the same 64 candidates in memory. Prints a table and merges it into
bench/results.json and the README."""

from __future__ import annotations

import asyncio
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402

from bench.report import write_results  # noqa: E402
from tests.helpers import offline_runtime  # noqa: E402
from tierline_router.app import SPEC, _start  # noqa: E402
from tierline_router.context import router_context  # noqa: E402
from tierline_router.models import agents, queue, tickets  # noqa: E402
from tierline_router.routing.matcher import choose  # noqa: E402
from tierline_router.routing.placement import (  # noqa: E402
    _candidates_query,
    agent_view,
    change_load,
    facts,  # noqa: E402
    offer_waiting_to,
    route,
)
from tierline_router.routing.rules import need_for  # noqa: E402
from tierline_shared.clock import SystemClock  # noqa: E402
from tierline_shared.devstack import create_database  # noqa: E402
from tierline_shared.embedded import EmbeddedPostgres, free_port  # noqa: E402
from tierline_shared.migrate import upgrade  # noqa: E402

AGENTS, QUEUED, RUNS = 10_000, 100_000, 400
SKILLS = ["network", "software", "hardware", "access", *[f"product-{n}" for n in range(16)]]
CHANNELS = {"chat": 2, "email": 5, "portal": 5, "phone": 1}
rng = random.Random(7)


def agent_rows() -> list[dict]:
    now = datetime.now(UTC)
    rows = []
    for n in range(AGENTS):
        skills = {s: rng.randint(1, 5) for s in rng.sample(SKILLS, 3)}
        full = n % 20 != 0  # 95% of agents are full, so the queue is real
        rows.append({"id": f"a{n:05d}", "name": f"Agent {n}", "tier": 1 + n % 3,
                     "skills": skills, "channels": CHANNELS, "max_total": 8,
                     "presence": "available", "languages": ["en"], "timezone": "UTC",
                     "active_by_channel": {"email": 5, "portal": 3} if full else {},
                     "active_total": 8 if full else 0, "updated_at": now})
    return rows


def queue_rows() -> tuple[list[dict], list[dict]]:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    ticket_rows, waiting = [], []
    for n in range(QUEUED):
        tid, cat = uuid.uuid4(), rng.choice(SKILLS)
        prio = rng.choice(["P2", "P3", "P3", "P4", "P4", "P5"])
        channel = rng.choice(["email", "portal"])
        at = t0 + timedelta(milliseconds=n * 50)
        ticket_rows.append({"ticket_id": tid, "ticket_type": "incident", "priority": prio,
                            "category": cat, "channel": channel, "language": "en",
                            "vip": False, "triage": False, "deflected": False, "status": "new",
                            "declined_by": [], "attempts": 0, "created_at": at})
        waiting.append({"ticket_id": tid, "queue": "default", "priority": prio,
                        "eff_rank": int(prio[1]), "category": cat, "channel": channel,
                        "skill": cat, "generalist": True, "min_tier": 1, "max_tier": 3,
                        "queued_at": at, "review_at": None, "reason": "bench",
                        "triage": False})
    return ticket_rows, waiting


async def seed(rt) -> None:  # type: ignore[no-untyped-def]
    tickets_rows, waiting = queue_rows()
    async with rt.sessions.begin() as session:
        for table, rows in ((agents, agent_rows()), (tickets, tickets_rows), (queue, waiting)):
            for i in range(0, len(rows), 5000):
                await session.execute(insert(table), rows[i:i + 5000])
    async with rt.engine.connect() as conn:
        await conn.execute(text("ANALYZE"))


def summary(name: str, durations: list[float], ceiling: float | None = None) -> dict:
    rate = len(durations) / sum(durations)
    q = statistics.quantiles(durations, n=100)
    return {"name": name, "per_s": round(rate), "p50_ms": round(q[49] * 1e3, 2),
            "p99_ms": round(q[98] * 1e3, 2)}


async def bench(url: str) -> list[dict]:
    rt = offline_runtime(SPEC, url, SystemClock())
    await _start(rt)
    await seed(rt)
    results = []
    # (1) new tickets routed
    durations = []
    for _ in range(RUNS):
        tid = uuid.uuid4()
        async with rt.sessions.begin() as session:
            await session.execute(insert(tickets).values(
                ticket_id=tid, ticket_type="incident", priority="P3",
                category=rng.choice(SKILLS), channel=rng.choice(["email", "portal", "chat"]),
                language="en", vip=False, triage=False, deflected=False, status="new",
                declined_by=[], attempts=0, created_at=datetime.now(UTC)))
        start = time.perf_counter()
        async with rt.sessions.begin() as session:
            await route(rt, session, tid, rt.clock.now(), trigger="bench")
        durations.append(time.perf_counter() - start)
    results.append(summary("new ticket routed (offer or queue)", durations))
    # (2) an agent frees capacity: the best waiting ticket of 100,000 is offered
    durations = []
    full = [f"a{n:05d}" for n in range(AGENTS) if n % 20 != 0]
    for agent_id in rng.sample(full, RUNS):
        start = time.perf_counter()
        async with rt.sessions.begin() as session:
            await session.execute(select(agents.c.id).where(agents.c.id == agent_id)
                                  .with_for_update())
            await change_load(session, agent_id, "email", -1)
            await offer_waiting_to(rt, session, agent_id, rt.clock.now(), "bench")
        durations.append(time.perf_counter() - start)
    results.append(summary("freed capacity offered the best of 100,000 waiting", durations))
    # (3) ceiling: a bare transaction, one indexed read and two writes
    durations = []
    for _ in range(RUNS):
        start = time.perf_counter()
        async with rt.sessions.begin() as session:
            await session.execute(select(agents).where(agents.c.id == "a00001")
                                  .with_for_update())
            await session.execute(text("UPDATE router.agents SET updated_at = now() "
                                       "WHERE id = 'a00001'"))
            await session.execute(text("INSERT INTO router.assignment_history "
                                       "(ticket_id, at, action, detail) VALUES "
                                       "(gen_random_uuid(), now(), 'bench', '{}')"))
        durations.append(time.perf_counter() - start)
    results.append(summary("ceiling: bare transaction (1 locked read, 2 writes)", durations))
    # (4) ceiling: the pure choice among the same 64 candidates
    async with rt.sessions() as session:
        row = (await session.execute(select(tickets).limit(1))).one()
        need = need_for(router_context(rt).routing_policy, facts(row))
        views = [agent_view(r) for r in (await session.execute(_candidates_query(need))).all()]
    durations = []
    for _ in range(RUNS * 10):
        start = time.perf_counter()
        choose(need, views)
        durations.append(time.perf_counter() - start)
    results.append(summary(f"ceiling: pure choice among {len(views)} candidates", durations))
    await rt.engine.dispose()
    return results


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tierline-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=True)
        pg.start()
        try:
            server = pg.url()
            asyncio.run(create_database(server, "bench"))
            url = server.rsplit("/", 1)[0] + "/bench"
            with ThreadPoolExecutor(1) as pool:
                pool.submit(upgrade, url, ("router",)).result()
            results = asyncio.run(bench(url))
        finally:
            pg.remove()
    bare = results[2]["per_s"]
    lines = [f"Measured side by side in one run on {platform.machine()}, CPython "
             f"{platform.python_version()}, embedded PostgreSQL 18, {AGENTS:,} agents and "
             f"{QUEUED:,} queued tickets, {RUNS} decisions each (`make bench`):", "",
             "| operation | per second | p50 | p99 | vs bare transaction |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for r in results:
        lines.append(f"| {r['name']} | {r['per_s']:,} | {r['p50_ms']} ms | {r['p99_ms']} ms "
                     f"| {r['per_s'] / bare:.2f}x |")
    table = "\n".join(lines)
    print(table)
    write_results("router_decisions", results, table, "router")


if __name__ == "__main__":
    main()
