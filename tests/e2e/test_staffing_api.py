"""``POST /v1/staffing/plan`` on the running metrics service."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def test_plan_answers_agents_per_interval(stack: Stack) -> None:
    async with stack.client("metrics") as client:
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


async def test_plan_with_abandonment_and_chat_concurrency(stack: Stack) -> None:
    from tierline_metrics.staffing.plan import Target, plan

    async with stack.client("metrics") as client:
        r = await client.post("/v1/staffing/plan", json={
            "volumes": [0, 40, 95], "aht_s": 480, "service_level": 0.8,
            "answer_within_s": 30, "patience_s": 120, "concurrency": 3})
        assert r.status_code == 200, r.text
        rows = r.json()["intervals"]
        expected = plan([0, 40, 95], Target(aht_s=480, service_level=0.8, answer_within_s=30,
                                            patience_s=120, concurrency=3))
        assert [i["agents"] for i in rows] == [e.agents for e in expected]
        assert rows[0]["probability_abandon"] == 0 < rows[2]["probability_abandon"] < 0.2
        assert all(i["service_level"] >= 0.8 for i in rows)
        bad = await client.post("/v1/staffing/plan", json={"volumes": [5], "concurrency": 0,
                                                            "patience_s": 0})
        assert bad.status_code == 422
        assert {"body.concurrency", "body.patience_s"} <= {
            p["field"] for p in bad.json()["detail"]}


@pytest.mark.parametrize(("body", "field"), [
    ({"volumes": []}, "body.volumes"),
    ({"volumes": [-1]}, "body.volumes.0"),
    ({"volumes": [1], "interval_minutes": 20}, "body"),
    ({"volumes": [1], "service_level": 0.8, "asa_s": 10}, "body"),
    ({"volumes": [1], "shrinkage": 1}, "body.shrinkage"),
])
async def test_bad_plans_name_the_field(stack: Stack, body: dict, field: str) -> None:
    async with stack.client("metrics") as client:
        r = await client.post("/v1/staffing/plan", json=body)
    assert r.status_code == 422
    assert field in [p["field"] for p in r.json()["detail"]]


async def test_plan_forecasts_from_tickets_the_system_has_seen(own_stack: Stack) -> None:
    """Three weeks of chat tickets flow through Kafka into metrics' read model; the plan
    forecasts today from them and covers it with shifts."""
    import math
    import uuid
    from datetime import UTC, datetime, timedelta

    from tests.helpers import eventually, produce
    from tierline_shared.bus.envelope import Envelope
    from tierline_shared.bus.events import TicketCreated

    stack = own_stack
    stack.start("metrics")
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    messages = []
    for day in range(21, 0, -1):
        weekday_factor = 0.3 if (today - timedelta(days=day)).weekday() >= 5 else 1.0
        for slot in range(48):
            busy = max(math.sin(math.pi * (slot - 14) / 24), 0) if 14 <= slot < 38 else 0
            for n in range(round(6 * busy * weekday_factor)):
                at = today - timedelta(days=day) + timedelta(minutes=30 * slot + n)
                event = TicketCreated(
                    ticket_id=uuid.uuid4(), ticket_type="incident", title="chat", priority="P3",
                    category="software", impact="medium", urgency="medium", channel="chat",
                    requester_id="u", created_at=at)
                env = Envelope.wrap(event, source="/tierline/intake", time=at)
                messages.append((env.key, env.body(), env.headers()))
    await produce(stack.bootstrap, stack.topics.incidents, messages)

    async def folded() -> bool:
        return await stack.scalar("SELECT count(*) FROM metrics.ticket_facts") == len(messages)

    await eventually(folded, timeout=60, what="metrics folded the history")
    async with stack.client("metrics") as client:
        r = await client.post("/v1/staffing/plan", json={
            "forecast": {"days": 1, "history_days": 21, "channel": "chat"},
            "aht_s": 600, "service_level": 0.8, "answer_within_s": 30,
            "shifts": [{"name": "day", "length_minutes": 480, "break_after_minutes": 240,
                        "break_minutes": 30},
                       {"name": "half", "length_minutes": 240}]}, timeout=60)
        empty = await client.post("/v1/staffing/plan", json={
            "forecast": {"history_days": 21, "channel": "phone"}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["forecast"]["method"].startswith("holt-winters, weekly")
    assert body["forecast"]["backtest_mae"] is not None
    volumes = [i["volume"] for i in body["intervals"]]
    assert len(volumes) == 48
    assert max(volumes) > 2 and sum(volumes[:10]) < 2  # busy midday, quiet night
    coverage = [0] * 48
    for shift in body["shifts"]:
        length = 16 if shift["template"] == "day" else 8
        for k in range(length):
            if shift["template"] == "day" and 8 <= k < 9:
                continue
            coverage[shift["start_minutes"] // 30 + k] += shift["agents"]
    assert all(c >= i["scheduled"] for c, i in zip(coverage, body["intervals"], strict=True))
    assert empty.status_code == 200
    assert {i["agents"] for i in empty.json()["intervals"]} == {0}

    import asyncio
    import subprocess
    import sys
    from pathlib import Path

    out = Path(stack.procs.log_dir) / "plan.csv"
    chart = Path(stack.procs.log_dir) / "plan.png"
    cli = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "tierline_shared.cli", "staffing", "plan", "--from-metrics",
        stack.url("metrics"), "--channel", "chat", "--history-days", "21", "--aht", "600",
        "--within", "30", "--out", str(out), "--chart", str(chart),
        "--api-key", stack.api_key],
        capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert "forecast: holt-winters, weekly" in cli.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 49 and lines[0].startswith("index,volume,load,agents")
    assert chart.read_bytes()[:4] == b"\x89PNG"


async def test_adherence_from_presence_router_publishes(own_stack: Stack) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.helpers import eventually

    stack = own_stack
    stack.start("router", "metrics")
    now = datetime.now(UTC)
    async with own_stack.client() as client:
        put = await client.put(f"{stack.url('router')}/v1/agents/shift-ana", json={
            "name": "Ana", "tier": 1, "skills": {"general": 3}, "channels": {"chat": 2}})
        assert put.status_code == 200
        schedule = await client.put(f"{stack.url('metrics')}/v1/staffing/schedule", json={
            "shifts": [{"agent_id": "shift-ana", "starts_at": (now - timedelta(hours=1))
                        .isoformat(), "ends_at": (now + timedelta(hours=1)).isoformat()}]})
        assert schedule.status_code == 200 and schedule.json() == {"stored": 1}

        async def available_logged() -> bool:
            return await stack.scalar("SELECT count(*) FROM metrics.presence_log "
                                      "WHERE agent_id = 'shift-ana'") == 1

        await eventually(available_logged, what="the first presence change in metrics")
        away = await client.put(f"{stack.url('router')}/v1/agents/shift-ana/presence",
                                json={"presence": "away"})
        assert away.status_code == 200 and away.json()["presence"] == "away"
        missing = await client.put(f"{stack.url('router')}/v1/agents/nobody/presence",
                                   json={"presence": "away"})
        assert missing.status_code == 404

        async def logged() -> bool:
            return await stack.scalar("SELECT count(*) FROM metrics.presence_log "
                                      "WHERE agent_id = 'shift-ana'") == 2

        await eventually(logged, what="both presence changes reached metrics over Kafka")
        r = await client.get(f"{stack.url('metrics')}/v1/staffing/adherence", params={
            "start": (now - timedelta(hours=1)).isoformat(),
            "end": (now + timedelta(hours=1)).isoformat()})
        answered = datetime.now(UTC)
        log = [(await stack.scalar(
            "SELECT at FROM metrics.presence_log WHERE agent_id = 'shift-ana' "
            "ORDER BY at OFFSET :n LIMIT 1", n=n)) for n in (0, 1)]
        bad = await client.get(f"{stack.url('metrics')}/v1/staffing/adherence", params={
            "start": now.isoformat(), "end": (now - timedelta(hours=1)).isoformat()})
    assert r.status_code == 200, r.text
    [row] = r.json()
    assert row["agent_id"] == "shift-ana"
    # Available from the first change to the second (router's clock, carried by the events),
    # away since; scheduled from the shift's start until metrics' now, which lies between the
    # second change and the answer.
    available_s = (log[1] - log[0]).total_seconds()
    assert available_s > 0
    assert row["adherent_minutes"] * 60 == pytest.approx(available_s, abs=1e-6)
    shift_start = now - timedelta(hours=1)
    assert ((log[1] - shift_start).total_seconds() <= row["scheduled_minutes"] * 60
            <= (answered - shift_start).total_seconds())
    assert row["adherence"] == pytest.approx(row["adherent_minutes"] / row["scheduled_minutes"])
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "query.end"
