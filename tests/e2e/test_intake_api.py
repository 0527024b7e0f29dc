"""Intake's REST contract: clear errors for bad input, nothing written, idempotent retries."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import Stack, ticket

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


async def counts(stack: Stack) -> tuple[int, int]:
    tickets = await stack.scalar("SELECT count(*) FROM intake.tickets")
    events = await stack.scalar("SELECT count(*) FROM intake.outbox") + await stack.scalar(
        "SELECT count(*) FROM intake.tickets")  # outbox drains; tickets+outbox must not grow
    return tickets, events


def without(key: str) -> dict[str, Any]:
    body = ticket()
    del body[key]
    return body


@pytest.mark.parametrize(("body", "field"), [
    (without("title"), "body.title"),
    (without("description"), "body.description"),
    (without("requester"), "body.requester"),
    (without("channel"), "body.channel"),
    (ticket(title=""), "body.title"),
    (ticket(title="   "), "body.title"),
    (ticket(title=42), "body.title"),
    (ticket(requester={"name": "no id"}), "body.requester.id"),
    (ticket(requester={"id": "u1", "email": "not-an-email"}), "body.requester.email"),
    (ticket(channel="fax"), "body.channel"),
    (ticket(impact="catastrophic"), "body.impact"),
    (ticket(urgency=3), "body.urgency"),
    (ticket(type="question"), "body.type"),
    (ticket(category="plumbing"), "body.category"),
    (ticket(category="network", subcategory="plumbing"), "body.subcategory"),
    (ticket(subcategory="vpn"), "body.subcategory"),
    (ticket(affected={"scope": "galaxy"}), "body.affected.scope"),
    (ticket(affected={"count": 0}), "body.affected.count"),
    (ticket(service={"business_critical": True}), "body.service.name"),
    (ticket(priority_override={"priority": "P0", "by": "x"}), "body.priority_override.priority"),
    (ticket(priority_override={"priority": "P1"}), "body.priority_override.by"),
    (ticket(attachments=[{"name": "log.txt"}]), "body.attachments.0.ref"),
    (ticket(started_at="yesterday"), "body.started_at"),
    (ticket(started_at="2026-11-24T07:30:00"), "body.started_at"),  # no timezone
    (ticket(workaround_available="maybe"), "body.workaround_available"),
    (ticket(unexpected="field"), "body.unexpected"),
    (ticket(title="x" * 201), "body.title"),
])
async def test_invalid_tickets_are_refused_naming_the_field(stack: Stack, body: dict[str, Any],
                                                            field: str) -> None:
    before = await stack.scalar("SELECT count(*) FROM intake.tickets")
    async with stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets", json=body)
    assert r.status_code == 422, r.text
    payload = r.json()
    assert payload["error"] == "validation_error"
    assert field in [problem["field"] for problem in payload["detail"]]
    assert await stack.scalar("SELECT count(*) FROM intake.tickets") == before


@pytest.mark.parametrize(("content", "headers", "status", "error"), [
    (b'{"title": "x",', {"content-type": "application/json"}, 422, "validation_error"),
    (b"title=x", {"content-type": "application/x-www-form-urlencoded"}, 422, "validation_error"),
    (b"[1, 2]", {"content-type": "application/json"}, 422, "validation_error"),
    (b"", {"content-type": "application/json"}, 422, "validation_error"),
])
async def test_non_json_bodies_get_a_json_error(stack: Stack, content: bytes,
                                                headers: dict[str, str], status: int,
                                                error: str) -> None:
    before = await stack.scalar("SELECT count(*) FROM intake.tickets")
    async with stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets", content=content,
                              headers=headers)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"] == error
    assert r.json()["detail"][0]["field"] == "body"
    assert await stack.scalar("SELECT count(*) FROM intake.tickets") == before


async def test_a_body_over_the_limit_is_refused_with_413(stack: Stack) -> None:
    before = await stack.scalar("SELECT count(*) FROM intake.tickets")
    big = ticket(description="x" * (stack.settings.max_body_bytes + 1))
    async with stack.client() as client:
        r = await client.post(f"{stack.url('intake')}/v1/tickets", json=big)

        async def chunks():  # no Content-Length: the limit holds for streamed bodies too
            yield b'{"title": "t", "description": "'
            for _ in range(stack.settings.max_body_bytes // 1000 + 2):
                yield b"y" * 1000
            yield b'"}'

        streamed = await client.post(f"{stack.url('intake')}/v1/tickets", content=chunks(),
                                     headers={"content-type": "application/json"})
    for response in (r, streamed):
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"
        assert response.json()["limit_bytes"] == stack.settings.max_body_bytes
    assert await stack.scalar("SELECT count(*) FROM intake.tickets") == before


async def test_retry_with_the_same_idempotency_key_gets_the_same_ticket(stack: Stack) -> None:
    key = f"retry-{uuid.uuid4()}"
    async with stack.client("intake") as client:
        first = await client.post("/v1/tickets", json=ticket(), headers={"Idempotency-Key": key})
        again = await client.post("/v1/tickets", json=ticket(), headers={"Idempotency-Key": key})
        other = await client.post("/v1/tickets", json=ticket(title="Something else"),
                                  headers={"Idempotency-Key": key})
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert await stack.scalar("SELECT count(*) FROM intake.idempotency_keys WHERE key = :k",
                              k=key) == 1
    assert await stack.scalar("SELECT count(*) FROM intake.tickets WHERE id = :i",
                              i=uuid.UUID(first.json()["id"])) == 1


async def test_unknown_and_malformed_ticket_ids(stack: Stack) -> None:
    async with stack.client("intake") as client:
        missing = await client.get(f"/v1/tickets/{uuid.uuid4()}")
        malformed = await client.get("/v1/tickets/not-a-uuid")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "path.ticket_id"


async def test_request_inferred_and_explained(stack: Stack) -> None:
    async with stack.client("intake") as client:
        r = await client.post("/v1/tickets", json=ticket(
            title="Please install Excel", description="I need Excel on my new laptop",
            impact=None, urgency=None))
    body = r.json()
    assert r.status_code == 201
    assert body["type"] == "service_request"
    assert body["priority"] == "P3"
    by_field = {r["field"]: r for r in body["reasons"]}
    assert by_field["impact"]["source"] == "default"
    assert by_field["type"]["source"] == "inferred"
    assert by_field["priority"]["reason"] == "matrix[impact=medium][urgency=medium]"
