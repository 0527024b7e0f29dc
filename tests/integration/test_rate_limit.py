"""A key over its rate gets 429 with Retry-After and a JSON body; other keys are unaffected."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from tests.helpers import attach, offline_runtime
from tierline_router.app import SPEC, create_app
from tierline_shared.clock import FrozenClock

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
