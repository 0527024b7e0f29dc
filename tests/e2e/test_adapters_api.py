"""ServiceNow, Jira and Zendesk payloads into the running intake: created once, updated by
external id, unknown statuses kept and reported, bad payloads refused naming the path."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.samples import sample

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def post(stack: Stack, system: str, body: dict[str, Any],
               **headers: str) -> httpx.Response:
    async with stack.client("intake") as client:
        return await client.post(f"/v1/adapters/{system}", json=body, headers=headers)


async def history_kinds(stack: Stack, ticket_id: str) -> list[str]:
    async with stack.client("intake") as client:
        return [e["kind"] for e in (await client.get(f"/v1/tickets/{ticket_id}/history")).json()]


async def test_servicenow_incident_created_then_updated_by_sys_id(intake: Stack) -> None:
    first = await post(intake, "servicenow", sample("servicenow_incident"))
    assert first.status_code == 201, first.text
    body = first.json()
    ticket = body["ticket"]
    assert body["outcome"] == "created" and body["key"] == "INC0010021"
    assert ticket["external_system"] == "servicenow"
    assert ticket["external_id"] == "9d385017c611228701d22104cc95c371"
    assert (ticket["impact"], ticket["urgency"], ticket["priority"]) == ("high", "high", "P1")
    assert ticket["category"] == "software" and ticket["channel"] == "phone"
    assert ticket["status"] == "in_progress" and ticket["external_status"] == "2"

    again = await post(intake, "servicenow", sample("servicenow_incident"))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["ticket"]["id"] == ticket["id"]

    calmer = sample("servicenow_incident")
    calmer["result"].update(urgency="2", sys_updated_on="2026-11-24 09:30:00")
    rescored = await post(intake, "servicenow", calmer)
    assert rescored.json()["changes"] == [{"field": "priority", "applied": True, "to": "P2"}]
    assert rescored.json()["ticket"]["priority"] == "P2"

    resolved = sample("servicenow_incident")
    resolved["result"].update(state="6", close_code="Solved (Permanently)",
                              close_notes="Restarted the mail transport service",
                              sys_updated_on="2026-11-24 09:40:00")
    update = await post(intake, "servicenow", resolved)
    assert update.status_code == 200 and update.json()["outcome"] == "updated"
    assert update.json()["ticket"]["status"] == "resolved"

    older = sample("servicenow_incident")
    older["result"].update(state="1", sys_updated_on="2026-11-24 09:20:00")
    stale = await post(intake, "servicenow", older)
    assert stale.json()["outcome"] == "stale"
    assert stale.json()["ticket"]["status"] == "resolved"

    canceled = sample("servicenow_incident")
    canceled["result"].update(state="8", sys_updated_on="2026-11-24 10:00:00")
    reported = await post(intake, "servicenow", canceled)
    assert reported.status_code == 200
    assert reported.json()["unmapped"] == [{
        "path": "result.state", "value": "8",
        "reason": "no Tierline status for this ServiceNow state"}]
    assert reported.json()["ticket"]["external_status"] == "8"
    assert reported.json()["ticket"]["status"] == "resolved"  # kept, not dropped or forced
    assert "external_status_unmapped" in await history_kinds(intake, ticket["id"])
    async with intake.client("intake") as client:
        listed = (await client.get("/v1/adapters/unmapped-statuses")).json()["items"]
    assert {"system": "servicenow", "key": "INC0010021", "external_status": "8"}.items() <= \
        next(r for r in listed if r["ticket_id"] == ticket["id"]).items()
    assert await intake.scalar(
        "SELECT count(*) FROM intake.tickets WHERE external_id = :e",
        e="9d385017c611228701d22104cc95c371") == 1


async def test_jira_issue_created_then_updated(intake: Stack) -> None:
    created = await post(intake, "jira", sample("jira_issue_created"))
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["external_id"] == "10042" and ticket["priority"] == "P2"
    assert ticket["category"] == "network" and ticket["type"] == "incident"
    assert ticket["status"] == "new" and ticket["requester"]["email"] == "ada@example.com"
    updated = await post(intake, "jira", sample("jira_issue_updated"))
    assert updated.status_code == 200, updated.text
    after = updated.json()["ticket"]
    assert after["id"] == ticket["id"]
    assert after["status"] == "resolved" and after["priority"] == "P1"
    assert after["external_status"] == "Resolved"
    kinds = await history_kinds(intake, ticket["id"])
    assert kinds.count("status_changed") == 1 and "priority_changed" in kinds


async def test_zendesk_ticket_then_its_event_webhook(intake: Stack) -> None:
    created = await post(intake, "zendesk", sample("zendesk_ticket"))
    assert created.status_code == 201, created.text
    ticket = created.json()["ticket"]
    assert ticket["priority"] == "P2" and ticket["status"] == "in_progress"
    assert ticket["channel"] == "portal" and ticket["category"] == "hardware"
    event = await post(intake, "zendesk", sample("zendesk_event_webhook"))
    assert event.status_code == 200, event.text
    after = event.json()["ticket"]
    assert after["id"] == ticket["id"]
    assert after["status"] == "pending_customer" and after["priority"] == "P1"


@pytest.mark.parametrize(("system", "name", "mutate", "field"), [
    ("servicenow", "servicenow_incident", lambda p: p["result"].pop("caller_id"),
     "body.result.caller_id"),
    ("jira", "jira_issue_created", lambda p: p["issue"]["fields"].pop("summary"),
     "body.issue.fields.summary"),
    ("zendesk", "zendesk_ticket", lambda p: p["ticket"].pop("requester_id"),
     "body.ticket.requester_id"),
    ("zendesk", "zendesk_ticket", lambda p: p.pop("ticket"), "body.ticket"),
])
async def test_payloads_missing_what_the_mapping_needs_are_refused(
        intake: Stack, system: str, name: str, mutate: Any, field: str) -> None:
    before = await intake.scalar("SELECT count(*) FROM intake.tickets")
    payload = sample(name)
    mutate(payload)
    r = await post(intake, system, payload)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "validation_error"
    assert r.json()["detail"][0]["field"] == field
    assert await intake.scalar("SELECT count(*) FROM intake.tickets") == before


async def test_a_non_object_body_is_refused(intake: Stack) -> None:
    async with intake.client("intake") as client:
        r = await client.post("/v1/adapters/jira", json=[1, 2])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body"


async def test_idempotency_key_replays_the_first_answer(intake: Stack) -> None:
    payload = sample("zendesk_ticket")
    payload["ticket"]["id"] = 90001
    key = f"zd-{uuid.uuid4()}"
    first = await post(intake, "zendesk", payload, **{"Idempotency-Key": key})
    again = await post(intake, "zendesk", payload, **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
