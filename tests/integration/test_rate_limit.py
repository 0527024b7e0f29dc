"""A key over its rate gets 429 with Retry-After and a JSON body; other keys are unaffected."""

from __future__ import annotations

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
