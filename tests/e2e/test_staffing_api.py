"""``POST /v1/staffing/plan`` on the running metrics service."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def test_plan_answers_agents_per_interval(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url("metrics")) as client:
        r = await client.post("/v1/staffing/plan", json={
            "volumes": [0, 12, 40, 95], "interval_minutes": 30, "aht_s": 240,
            "service_level": 0.8, "answer_within_s": 20, "shrinkage": 0.3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert [i["agents"] for i in body["intervals"]] == [0, 4, 8, 17]
        assert body["total_agent_hours"] == pytest.approx(29 * 0.5)
        assert all(i["service_level"] >= 0.8 for i in body["intervals"])
        asa = await client.post("/v1/staffing/plan", json={"volumes": [50], "asa_s": 15})
        assert asa.status_code == 200 and asa.json()["intervals"][0]["asa_s"] <= 15


@pytest.mark.parametrize(("body", "field"), [
    ({"volumes": []}, "body.volumes"),
    ({"volumes": [-1]}, "body.volumes.0"),
    ({"volumes": [1], "interval_minutes": 20}, "body"),
    ({"volumes": [1], "service_level": 0.8, "asa_s": 10}, "body"),
    ({"volumes": [1], "shrinkage": 1}, "body.shrinkage"),
])
async def test_bad_plans_name_the_field(stack: Stack, body: dict, field: str) -> None:
    async with httpx.AsyncClient(base_url=stack.url("metrics")) as client:
        r = await client.post("/v1/staffing/plan", json=body)
    assert r.status_code == 422
    assert field in [p["field"] for p in r.json()["detail"]]
