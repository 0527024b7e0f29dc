"""Intake's POST /v1/tickets throughput and latency, side by side in one run with its
ceilings on the same machine:

* the combined ceiling (issue 16's target: intake at 0.4x of it or better): a bare FastAPI
  app in its own process (one uvicorn worker, the same server options as intake) that
  parses the same ~600-byte body into the same pydantic model (intake's ``TicketIn``) and
  commits the raw asyncpg ticket + outbox transaction in its handler, then answers 201;
* the same bare app answering 201 without the database;
* the raw asyncpg transaction that intake cannot do without: one ticket row and one outbox
  row, committed together, with the same concurrency (no HTTP, no classifier).

Every POST carries an Idempotency-Key, as a desk sends it; PostgreSQL runs with fsync on;
intake keeps its cluster-wide rate limit (an allowance this bench never reaches).

Both HTTP targets are driven by the same bounded async client (prepared HTTP/1.1 requests
on keep-alive asyncio connections: httpx itself tops out near 500 requests/s here): a fixed
number of requests, at most CONCURRENCY in flight, only 127.0.0.1. Rounds alternate bare and intake
so drifting load from others on the machine hits both. Writes bench/results.json and the
README table between the ``bench:intake`` markers.

``BENCH_BEFORE=DIR`` also serves intake from an older checkout in DIR (e.g. a
``git worktree add --detach DIR main``) on the same database, driven in the same rounds right
beside this checkout's, so a change is measured before and after in one run (its row and its
ratio to this checkout's intake join the table).

``--bare PORT [DSN]`` serves the bare app, committing to DSN when given (used by this script
itself)."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.report import write_results  # noqa: E402

CONCURRENCY = 16
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1500"))  # per target and round
ROUNDS = 2
WARMUP = 100


def body(n: int) -> dict[str, Any]:
    """A ~600-byte ticket as a portal sends it."""
    return {
        "title": f"VPN keeps disconnecting on the office network ({n})",
        "description": "The VPN drops every few minutes since this morning; rebooting did not "
                       "help and colleagues on the same floor see the same thing when they "
                       "join a call.",
        "requester": {"id": f"u-{n % 500}", "name": "Ada Park",
                      "email": f"ada{n % 500}@example.com"},
        "channel": "portal",
        "affected": {"scope": "team", "count": 12},
        "service": {"name": "Remote access", "configuration_item": "vpn-gw-01",
                    "business_critical": True},
        "started_at": "2026-11-24T08:10:00Z",
        "tried": "Rebooted the laptop, reconnected to home wifi, reinstalled the client",
    }


BODY_BYTES = len(json.dumps(body(0)).encode())


# ---- the bare ceiling: parse the same body into the same model, answer 201 -------------

_INSERT_TICKET = (
    "INSERT INTO ceiling.tickets (id, ticket_type, status, title, description, requester, "
    "channel, impact, urgency, priority, category, subcategory, category_confidence, "
    "needs_triage, reasons, context, created_at, updated_at, reopen_count, repeat_contacts, "
    "deflected) VALUES ($1, 'incident', 'new', $2, $3, $4, 'portal', 'medium', 'high', 'P2', "
    "'network', 'vpn', 0.9, false, '[]', $5, $6, $6, 0, 0, false)")
_INSERT_EVENT = ("INSERT INTO ceiling.outbox (event_id, topic, key, headers, value) "
                 "VALUES ($1, 'bench.incidents', $2, '[]', $3)")


async def write_ticket(conn: Any, ticket: dict[str, Any]) -> uuid.UUID:
    """The ticket row and its outbox row in one transaction: intake's indispensable write."""
    tid = uuid.uuid4()
    async with conn.transaction():
        await conn.execute(_INSERT_TICKET, tid, ticket["title"], ticket["description"],
                           json.dumps(ticket["requester"]), json.dumps(ticket),
                           datetime.now(UTC))
        await conn.execute(_INSERT_EVENT, uuid.uuid4(), str(tid).encode(),
                           json.dumps(ticket).encode())
    return tid


def bare_app(dsn: str | None = None):  # type: ignore[no-untyped-def]
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from tierline_intake.tickets.schemas import TicketIn

    pools: list[Any] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        if dsn is not None:
            import asyncpg

            pools.append(await asyncpg.create_pool(dsn, min_size=CONCURRENCY,
                                                   max_size=CONCURRENCY))
        yield
        for pool in pools:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    async def create(ticket: TicketIn) -> JSONResponse:
        if pools:
            async with pools[0].acquire() as conn:
                tid = await write_ticket(conn, ticket.model_dump(mode="json"))
        else:
            tid = uuid.uuid4()
        return JSONResponse({"id": str(tid), "title": ticket.title}, status_code=201)

    # The annotations are strings (postponed evaluation) naming a local import FastAPI
    # cannot resolve: it would read ``ticket`` as a query parameter and answer 422.
    create.__annotations__ = {"ticket": TicketIn, "return": JSONResponse}
    app.post("/v1/tickets", status_code=201)(create)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def serve_bare(port: int, dsn: str | None) -> None:
    import uvicorn

    uvicorn.run(bare_app(dsn), host="127.0.0.1", port=port, log_config=None,
                access_log=False, server_header=False)


# ---- the client -------------------------------------------------------------------------

async def drive(url: str, count: int, offset: int, key: str) -> dict[str, Any]:
    """POST ``count`` tickets with at most CONCURRENCY in flight, each on its own keep-alive
    HTTP/1.1 connection; req/s, p50, p99. Stops the bench if any answer is not a 201: a
    figure over refusals measures nothing.

    The client writes prepared requests and reads the answers straight off the sockets:
    httpx on these two cores tops out near 500 requests/s, well under what a bare
    FastAPI worker serves, so with it the ceiling would have measured the client."""
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    failures = 0
    refusal = ""
    queue = iter(range(offset, offset + count))
    run = uuid.uuid4().hex[:8]

    def request(n: int) -> bytes:
        payload = json.dumps(body(n)).encode()
        return (f"POST /v1/tickets HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nX-API-Key: {key}\r\n"
                f"Idempotency-Key: bench-{run}-{n}\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload

    async def worker() -> None:
        nonlocal failures, refusal
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for n in queue:
                data = request(n)
                start = time.perf_counter()
                writer.write(data)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                answer = await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if status != 201:
                    failures += 1
                    refusal = refusal or f"{status} {answer[:300].decode(errors='replace')}"
        finally:
            writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{url}: {failures} of {count} POSTs were not 201, e.g. {refusal}")
    return summarize(latencies, elapsed, failures)


def summarize(latencies: list[float], elapsed: float, failures: int) -> dict[str, Any]:
    q = statistics.quantiles(latencies, n=100)
    return {"requests": len(latencies), "failed": failures,
            "per_s": round(len(latencies) / elapsed, 1),
            "p50_ms": round(q[49] * 1e3, 2), "p99_ms": round(q[98] * 1e3, 2)}


async def make_ceiling_tables(dsn: str) -> None:
    """Copies of intake's ticket and outbox tables (indexes included) for the ceilings."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("CREATE SCHEMA IF NOT EXISTS ceiling")
        for table in ("tickets", "outbox"):
            await conn.execute(f"DROP TABLE IF EXISTS ceiling.{table}")
            await conn.execute(f"CREATE TABLE ceiling.{table} "
                               f"(LIKE intake.{table} INCLUDING ALL)")
    finally:
        await conn.close()


async def raw_transaction(dsn: str, count: int) -> dict[str, Any]:
    """The ceiling of intake's write: ticket + outbox row in one asyncpg transaction, on
    copies of intake's own tables, CONCURRENCY connections."""
    import asyncpg

    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    try:
        latencies: list[float] = []
        queue = iter(range(count))

        async def worker() -> None:
            async with pool.acquire() as conn:
                for n in queue:
                    start = time.perf_counter()
                    await write_ticket(conn, body(n))
                    latencies.append(time.perf_counter() - start)

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - t0
        return summarize(latencies, elapsed, 0)
    finally:
        await pool.close()


def profile(pid: int, round_no: int) -> subprocess.Popen[bytes] | None:
    """With BENCH_PROFILE=DIR, sample intake with py-spy while it is driven (collapsed
    stacks in DIR/intake-ROUND.txt); off by default, it costs the sampled process time."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        return None
    Path(out).mkdir(parents=True, exist_ok=True)
    spy = Path(sys.executable).parent / "py-spy"  # the bench extras install it there
    return subprocess.Popen([str(spy), "record", "-p", str(pid), "-f", "raw", "-r", "200",
                             "-o", str(Path(out) / f"intake-{round_no + 1}.txt")],
                            stdout=subprocess.DEVNULL)


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(pid: int, run: Any) -> dict[str, Any]:
    """``run``'s figures with the CPU the server process spent per request meanwhile: on a
    shared machine, a figure that other processes' load does not move."""
    before = cpu_seconds(pid)
    result: dict[str, Any] = asyncio.run(run)
    result["cpu_ms_per_request"] = round((cpu_seconds(pid) - before) * 1e3
                                         / result["requests"], 2)
    return result


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds combined: total requests over total time, the median of the percentiles."""
    total = sum(r["requests"] for r in runs)
    seconds = sum(r["requests"] / r["per_s"] for r in runs)
    return {"requests": total, "failed": sum(r["failed"] for r in runs),
            "per_s": round(total / seconds, 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 2),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 2),
            "rounds": [r["per_s"] for r in runs],
            **({"cpu_ms_per_request": round(statistics.mean(r["cpu_ms_per_request"]
                                                            for r in runs), 2)}
               if all("cpu_ms_per_request" in r for r in runs) else {})}


def main() -> None:
    from tierline_shared.auth.keys import generate
    from tierline_shared.devstack import (
        ServiceProcesses,
        create_database,
        service_env,
        wait_ready,
    )
    from tierline_shared.embedded import EmbeddedKafka, EmbeddedPostgres, free_port
    from tierline_shared.migrate import upgrade
    from tierline_shared.settings import Settings

    with tempfile.TemporaryDirectory(prefix="tierline-intake-bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port(), fast_unsafe=False)  # fsync on
        kafka = EmbeddedKafka(free_port(), log_path=Path(tmp) / "broker.log")
        pg.start()
        kafka.start()
        procs, before, bare, ceiling = None, None, None, None
        before_dir = os.environ.get("BENCH_BEFORE")
        try:
            asyncio.run(create_database(pg.url(), "intakebench"))
            url = pg.url().rsplit("/", 1)[0] + "/intakebench"
            upgrade(url)
            key = generate().plaintext
            # The default key checks (a cluster-wide rate-limit bucket, leased in blocks),
            # with an allowance this bench never reaches.
            settings = Settings(database_url=url, kafka_bootstrap_servers=kafka.bootstrap_servers,
                                topic_prefix="bench", intake_port=free_port(),
                                log_level="WARNING", environment="test",
                                bootstrap_admin_key=key, rate_limit_per_s=100_000,
                                rate_limit_burst=100_000)
            procs = ServiceProcesses(env=service_env(settings), services=("intake",),
                                     log_dir=Path(tmp))
            procs.start_all()
            if before_dir:  # the older checkout's packages first on the path, its own port
                old = Path(before_dir).resolve()
                before_port = free_port()
                before = ServiceProcesses(
                    env=service_env(settings, TIERLINE_INTAKE_PORT=str(before_port),
                                    PYTHONPATH=f"{old / 'shared'}:{old / 'services' / 'intake'}"),
                    services=("intake",), log_dir=Path(tmp) / "before")
                (Path(tmp) / "before").mkdir()
                before.start_all()
            dsn = url.replace("postgresql+asyncpg://", "postgresql://")
            asyncio.run(make_ceiling_tables(dsn))
            bare_port, ceiling_port = free_port(), free_port()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            bare = subprocess.Popen([sys.executable, __file__, "--bare", str(bare_port)],
                                    env=env)
            ceiling = subprocess.Popen([sys.executable, __file__, "--bare", str(ceiling_port),
                                        dsn], env=env)
            targets = {"intake": settings.url_for("intake"),
                       "ceiling": f"http://127.0.0.1:{ceiling_port}",
                       "bare": f"http://127.0.0.1:{bare_port}"}
            if before is not None:
                targets["before"] = f"http://127.0.0.1:{before_port}"
            wait_ready(targets, procs=procs, path="healthz")
            wait_ready({"intake": targets["intake"]}, procs=procs)
            if before is not None:
                wait_ready({"before": targets["before"]}, procs=before)
            runs: dict[str, list[dict[str, Any]]] = {
                "ceiling": [], "bare": [], "intake": [], "raw": []}
            if before is not None:
                runs["before"] = []
            for target in targets.values():  # warm-up: imports, caches, pools
                asyncio.run(drive(target, WARMUP, 10_000_000, key))
            for r in range(ROUNDS):
                for name in ("ceiling", "bare"):
                    runs[name].append(asyncio.run(drive(targets[name], REQUESTS,
                                                        r * REQUESTS, key)))
                # Beside it, on fresh keys (not replays), first in every other round so
                # neither always follows the ceilings' load.
                if before is not None and r % 2:
                    runs["before"].append(timed(before.procs["intake"].pid, drive(
                        targets["before"], REQUESTS, (ROUNDS + r) * REQUESTS, key)))
                spy = profile(procs.procs["intake"].pid, r)
                runs["intake"].append(timed(procs.procs["intake"].pid, drive(
                    targets["intake"], REQUESTS, r * REQUESTS, key)))
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(60)
                if before is not None and not r % 2:
                    runs["before"].append(timed(before.procs["intake"].pid, drive(
                        targets["before"], REQUESTS, (ROUNDS + r) * REQUESTS, key)))
                runs["raw"].append(asyncio.run(raw_transaction(dsn, REQUESTS)))
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]['per_s']}/s"
                                                     for k, v in runs.items()), flush=True)
        finally:
            for server in (bare, ceiling):
                if server is not None:
                    server.terminate()
                    server.wait(20)
            for services in (procs, before):
                if services is not None:
                    services.stop_all()
            kafka.stop()
            pg.remove()
    results = {k: merge(v) for k, v in runs.items()}
    ratio = results["intake"]["per_s"] / results["bare"]["per_s"]
    raw_ratio = results["intake"]["per_s"] / results["raw"]["per_s"]
    ceiling_ratio = results["intake"]["per_s"] / results["ceiling"]["per_s"]
    report = {"concurrency": CONCURRENCY, "requests_per_round": REQUESTS, "rounds": ROUNDS,
              "body_bytes": BODY_BYTES, "machine": machine(), **results,
              "idempotency_key": True, "fsync": True, "rate_limit_scope": "cluster",
              "ratio_intake_to_ceiling": round(ceiling_ratio, 3),
              "ratio_intake_to_bare": round(ratio, 3),
              "ratio_intake_to_raw_transaction": round(raw_ratio, 3)}
    if "before" in results:
        report["before_checkout"] = commit_of(before_dir)
        report["ratio_before_to_ceiling"] = round(
            results["before"]["per_s"] / results["ceiling"]["per_s"], 3)
    lines = [f"Measured side by side in one run on {machine()}; one uvicorn worker each, "
             f"{BODY_BYTES}-byte body with an Idempotency-Key, PostgreSQL with fsync on, "
             "intake's rate limit cluster-wide, "
             f"{CONCURRENCY} requests in flight from one asyncio client, "
             f"{ROUNDS} alternating rounds of {REQUESTS} (`make bench`); intake at "
             f"**{ceiling_ratio:.2f}x** of the combined ceiling (target 0.4x):", "",
             "| target | requests | per second | p50 | p99 | intake / target |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    labels = {"intake": "intake POST /v1/tickets (classifier, directory, KB, ticket + "
                        "history + outbox)",
              "ceiling": "ceiling: bare FastAPI, same body into the same model, raw asyncpg "
                         "ticket + outbox transaction, 201",
              "bare": "ceiling: bare FastAPI, same body into the same model, 201",
              "raw": "ceiling: raw asyncpg transaction, ticket + outbox row",
              "before": f"before: intake at {commit_of(before_dir)} (`BENCH_BEFORE`), same "
                        "rounds"}
    for key in ("intake", "ceiling", "bare", "raw", *(["before"] if "before" in results else [])):
        r = results[key]
        lines.append(f"| {labels[key]} | {r['requests']} | {r['per_s']:,.0f} | "
                     f"{r['p50_ms']} ms | {r['p99_ms']} ms | "
                     f"{results['intake']['per_s'] / r['per_s']:.2f}x |")
    cpu = [f"{name} {results[name]['cpu_ms_per_request']} ms"
           for name in ("intake", "before") if name in results]
    lines += ["", "CPU per request in the intake process (user + system, over its rounds): "
              + ", ".join(cpu) + "."]
    table = "\n".join(lines)
    print(table)
    write_results("intake_throughput", report, table, "intake")


def commit_of(checkout: str | None) -> str:
    if checkout is None:
        return "-"
    return subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True).stdout.strip() or checkout


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, CPython "
            f"{platform.python_version()}, {platform.system()}, embedded PostgreSQL 18 and the "
            "tansu broker on the same machine")


if __name__ == "__main__":
    if len(sys.argv) in (3, 4) and sys.argv[1] == "--bare":
        serve_bare(int(sys.argv[2]), sys.argv[3] if len(sys.argv) == 4 else None)
    else:
        main()
