"""A key over its rate gets 429 with Retry-After and a JSON body; other keys are unaffected;
the cluster-wide allowance holds, within its stated bound, across processes leasing tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import attach, offline_runtime
from tierline_router.app import SPEC, create_app
from tierline_shared.auth.keys import generate
from tierline_shared.auth.limits import SharedBuckets
from tierline_shared.clock import FrozenClock
from tierline_sla.app import SPEC as SLA_SPEC
from tierline_sla.app import create_app as create_sla_app

pytestmark = [pytest.mark.db]


async def test_a_key_over_its_burst_is_told_when_to_retry(database_url: str) -> None:
    runtime = offline_runtime(SPEC, database_url, FrozenClock(datetime(2026, 11, 25, tzinfo=UTC)))
    app = create_app(runtime.settings)
    key = attach(app, runtime, rate_per_s=0.01, burst=3)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://router",
                                     headers={"X-API-Key": key}) as client:
            codes = [(await client.get("/v1/agents")).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            limited = await client.get("/v1/agents")
            assert limited.status_code == 429
            assert int(limited.headers["Retry-After"]) >= 1
            body = limited.json()
            assert body["error"] == "rate_limited" and body["retry_after_s"] >= 1
            assert (await client.get("/healthz")).status_code == 200  # health is not limited
            # A request without a key is refused as such, not counted against this one.
            assert (await client.get("/v1/agents", headers={"X-API-Key": ""})).status_code == 401
    finally:
        await runtime.engine.dispose()


async def test_a_cluster_wide_bucket_is_shared_by_every_process(database_url: str) -> None:
    """Two services (or two replicas) with the cluster scope draw on one bucket per key:
    the burst is spent across them, not granted by each."""
    clock = FrozenClock(datetime(2026, 11, 25, tzinfo=UTC))
    router_rt = offline_runtime(SPEC, database_url, clock)
    sla_rt = offline_runtime(SLA_SPEC, database_url, clock)
    key = generate().plaintext
    router_app, sla_app = create_app(router_rt.settings), create_sla_app(sla_rt.settings)
    for app, runtime in ((router_app, router_rt), (sla_app, sla_rt)):
        attach(app, runtime, key=key, limits=SharedBuckets(runtime.engine, 0.01, 3))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=router_app),
                                     base_url="http://router", headers={"X-API-Key": key}
                                     ) as router, \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=sla_app),
                                  base_url="http://sla", headers={"X-API-Key": key}) as sla:
            codes = [(await router.get("/v1/agents")).status_code,
                     (await sla.get("/v1/problems")).status_code,
                     (await router.get("/v1/agents")).status_code]
            assert codes == [200, 200, 200]
            for client, path in ((sla, "/v1/problems"), (router, "/v1/agents")):
                limited = await client.get(path)
                assert limited.status_code == 429, limited.text
                assert int(limited.headers["Retry-After"]) >= 1
                assert limited.json()["retry_after_s"] >= 1
    finally:
        await router_rt.engine.dispose()
        await sla_rt.engine.dispose()


# One OS process of a service: draws on the key's cluster-wide bucket as fast as it can
# until a deadline, prints when each request was admitted.
_WORKER = """
import asyncio, json, sys, time
from sqlalchemy import text
from tierline_shared.auth.limits import SharedBuckets
from tierline_shared.db import make_engine

async def main(url, key, rate, burst):
    engine = make_engine(url)
    async with engine.connect() as conn:  # connected and warm before the start
        await conn.execute(text("SELECT 1"))
    buckets = SharedBuckets(engine, rate, burst)
    print("ready", flush=True)
    start, until = map(float, sys.stdin.readline().split())
    await asyncio.sleep(max(0.0, start - time.time()))
    admitted, refused = [], 0
    while time.time() < until:
        if await buckets.take(key) == 0:
            admitted.append(time.time())
        else:
            refused += 1
            await asyncio.sleep(0.002)
    await engine.dispose()
    print(json.dumps({"admitted": admitted, "refused": refused, "block": buckets.block}))

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
"""


def test_two_processes_leasing_blocks_keep_the_allowance_within_its_bound(
        database_url: str) -> None:
    """Two processes share one key's allowance (50/s, burst 20), each leasing blocks of 5
    tokens: in every interval of T seconds at most burst + rate x T + 2 blocks requests get
    through, over the whole run no more than the bucket granted, and both get a share."""
    rate, burst, seconds = 50.0, 20, 3.0
    key = generate().key_id
    procs = [subprocess.Popen(
        [sys.executable, "-c", _WORKER, database_url, key, str(rate), str(burst)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:  # both connected: start them together
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    start = time.time() + 0.2
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{start} {start + seconds}\n")
        proc.stdin.flush()
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    block = outs[0]["block"]
    assert block == 5
    admitted = sorted(t for out in outs for t in out["admitted"])
    assert all(out["admitted"] for out in outs), "both processes get a share"
    assert len(admitted) <= burst + rate * seconds + 1
    assert len(admitted) >= 0.8 * (burst + rate * seconds) - 2 * block
    for window in (0.1, 0.5, 1.0):
        worst = max(sum(1 for t in admitted[i:] if t <= a + window)
                    for i, a in enumerate(admitted))
        assert worst <= burst + rate * window + 2 * block + 1, (window, worst)
