"""Signed desk webhooks into the running intake: Jira's X-Hub-Signature, Zendesk's signature
and timestamp, ServiceNow's basic auth, each checked with its connection's inbound secret;
wrong, stale and replayed ones refused with 401 and a JSON body. And webhooks out that carry
a subscription's own Authorization header, for a survey tool sent survey requests."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.e2e.desk_servers import connection_body
from tests.helpers import eventually
from tests.samples import sample
from tierline_intake.desks.signatures import jira_signature, zendesk_signature
from tierline_shared.embedded import free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

SECRET = "inbound-secret-0f3a9c7e21"


async def connect(intake: Stack, system: str, name: str) -> None:
    async with intake.client("intake") as client:
        r = await client.post("/v1/connections", json=connection_body(
            system, name, "http://127.0.0.1:9", inbound_secret=SECRET))
    assert r.status_code == 201, r.text
    assert "inbound_secret" not in r.json() and r.json()["inbound_secret_set"] is True


async def post(intake: Stack, path: str, body: bytes, headers: dict[str, str]) -> Any:
    # no X-API-Key: the signature is the credential
    async with intake.client("intake", key="") as client:
        client.headers.pop("X-API-Key")
        return await client.post(path, content=body,
                                 headers={"Content-Type": "application/json", **headers})


def refused(r: Any, why: str) -> bool:
    return r.status_code == 401 and r.json()["error"] == "unauthorized" and \
        why in r.json()["detail"]


async def test_signed_jira_webhooks(intake: Stack) -> None:
    await connect(intake, "jira", "signed-jira")
    payload = sample("jira_issue_created")
    payload["timestamp"] = int(time.time() * 1000)
    body = json.dumps(payload).encode()
    path = "/v1/adapters/jira/connections/signed-jira"
    r = await post(intake, path, body, {"X-Hub-Signature": jira_signature(SECRET, body)})
    assert r.status_code == 201, r.text
    assert r.json()["external_id"] == payload["issue"]["id"]
    again = await post(intake, path, body, {"X-Hub-Signature": jira_signature(SECRET, body)})
    assert refused(again, "replayed")
    assert refused(await post(intake, path, body, {
        "X-Hub-Signature": jira_signature("not-the-secret-at-all", body)}), "does not sign")
    assert refused(await post(intake, path, body, {}), "missing")
    payload["timestamp"] = int((time.time() - 600) * 1000)
    stale = json.dumps(payload).encode()
    assert refused(await post(intake, path, stale, {
        "X-Hub-Signature": jira_signature(SECRET, stale)}), "stale")
    assert refused(await post(intake, "/v1/adapters/jira/connections/nobody", body, {
        "X-Hub-Signature": jira_signature(SECRET, body)}), "no active jira connection")
    # The key header still works on the plain adapter endpoint.
    async with intake.client("intake") as client:
        keyed = await client.post("/v1/adapters/jira", json=sample("jira_issue_updated"))
    assert keyed.status_code in (200, 201), keyed.text


async def test_signed_zendesk_webhooks(intake: Stack) -> None:
    await connect(intake, "zendesk", "signed-zd")
    payload = sample("zendesk_ticket")
    payload["ticket"]["id"] = 99001
    body = json.dumps(payload).encode()
    path = "/v1/adapters/zendesk/connections/signed-zd"

    def signed(stamp: datetime, secret: str = SECRET, data: bytes = body) -> dict[str, str]:
        ts = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"X-Zendesk-Webhook-Signature": zendesk_signature(secret, ts, data),
                "X-Zendesk-Webhook-Signature-Timestamp": ts}

    now = datetime.now(UTC)
    r = await post(intake, path, body, signed(now))
    assert r.status_code == 201, r.text
    assert r.json()["external_id"] == "99001"
    assert refused(await post(intake, path, body, signed(now)), "replayed")
    assert refused(await post(intake, path, body, signed(now - timedelta(minutes=10))),
                   "stale")
    assert refused(await post(intake, path, body, signed(now, "wrong-secret-0123456")),
                   "does not sign")
    tampered = body.replace(b"99001", b"99002")
    assert refused(await post(intake, path, tampered, signed(now)), "does not sign")
    # a fresh signature of the next change is taken: the ticket is updated
    payload["ticket"]["status"] = "pending"
    payload["ticket"]["updated_at"] = "2026-11-24T10:00:00Z"
    later = json.dumps(payload).encode()
    r = await post(intake, path, later, signed(now + timedelta(seconds=1), data=later))
    assert r.status_code == 200 and r.json()["outcome"] == "updated", r.text


async def test_servicenow_with_basic_auth(intake: Stack) -> None:
    await connect(intake, "servicenow", "signed-snow")
    payload = sample("servicenow_incident")
    payload["result"]["sys_id"] = "b" * 32
    body = json.dumps(payload).encode()
    path = "/v1/adapters/servicenow/connections/signed-snow"

    def basic(password: str) -> dict[str, str]:
        token = base64.b64encode(f"tierline:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    r = await post(intake, path, body, basic(SECRET))
    assert r.status_code == 201, r.text
    again = await post(intake, path, body, basic(SECRET))
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert refused(await post(intake, path, body, basic("wrong-password")), "wrong password")
    bad = await post(intake, path, b"[1, 2]", basic(SECRET))
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body"


async def test_webhooks_out_carry_their_own_authorization_and_survey_requests(
        intake: Stack) -> None:
    got: list[tuple[str | None, dict[str, Any]]] = []

    async def receive(request: Request) -> Response:
        got.append((request.headers.get("authorization"), await request.json()))
        return Response(status_code=204)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        Starlette(routes=[Route("/csat", receive, methods=["POST"])]), host="127.0.0.1",
        port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    token = "Bearer survey-tool-token-6b2e"
    try:
        async with intake.client("intake") as client:
            r = await client.post("/v1/webhooks", json={
                "url": f"http://127.0.0.1:{port}/csat", "events": ["survey_requested"],
                "authorization": token, "backoff_s": 0.05})
            assert r.status_code == 201, r.text
            assert r.json()["authorization_set"] is True and token not in r.text
            listed = await client.get("/v1/webhooks", params={"limit": 500})
            assert token not in listed.text
            payload = sample("zendesk_ticket")
            payload["ticket"].update(id=99501, status="open")
            assert (await client.post("/v1/adapters/zendesk", json=payload)).status_code == 201
            payload["ticket"].update(status="solved", updated_at="2026-11-24T11:00:00Z")
            r = await client.post("/v1/adapters/zendesk", json=payload)
            assert r.status_code == 200 and r.json()["outcome"] == "updated", r.text
        await eventually(lambda: asyncio.sleep(0, got), what="survey request delivered")
        auth, body = got[0]
        assert auth == token and body["kind"] == "survey_requested"
        assert body["ticket"]["external_id"] == "99501"
        assert body["data"]["requester_id"]
        stored = await intake.scalar(
            'SELECT string_agg("authorization", \' \') FROM intake.webhook_subscriptions')
        assert stored and "survey-tool-token" not in stored
    finally:
        server.should_exit = True
        await task


async def test_desk_notes_and_comments_become_comments_once(intake: Stack) -> None:
    payload = sample("servicenow_incident")
    record = payload["result"]
    record.update(sys_id="c" * 32, number="INC0099001", work_notes="Rebooted the mail relay",
                  sys_updated_by="beth.anglin")
    async with intake.client("intake") as client:
        created = await client.post("/v1/adapters/servicenow", json=payload)
        assert created.status_code == 201, created.text
        tid = created.json()["ticket"]["id"]
        # later payloads: the same note again (not added twice), a customer-visible comment,
        # and Tierline's own write-back note coming back (not taken in)
        for minute, extra in ((11, {}), (12, {"comments": "We are on it"}),
                              (13, {"work_notes": "Tierline assigned this to ana (ana)."})):
            record.update(sys_updated_on=f"2026-11-24 09:{minute}:00", **extra)
            r = await client.post("/v1/adapters/servicenow", json=payload)
            assert r.status_code == 200 and r.json()["outcome"] == "updated", r.text
        history = (await client.get(f"/v1/tickets/{tid}/history")).json()
    comments = [(h["actor"], h["detail"]["text"], h["detail"]["public"])
                for h in history if h["kind"] == "commented"]
    assert comments == [("servicenow:beth.anglin", "Rebooted the mail relay", False),
                        ("servicenow:beth.anglin", "We are on it", True)]
