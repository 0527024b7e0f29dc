"""Every service refuses requests without the right key: 401 without a valid one, 403 with
one that lacks the scope, JSON either way; keys are created, rotated and revoked over REST
or with ``tierline keys create``; health and readiness stay open."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import httpx
import pytest

from tests.e2e.conftest import Stack, ticket
from tests.helpers import eventually

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

# One protected read per service, and the scope it needs.
READS = {"intake": (f"/v1/tickets/{uuid.uuid4()}", "tickets:read"),
         "router": ("/v1/agents", "agents:read"),
         "sla": ("/v1/problems", "tickets:read"),
         "metrics": ("/v1/reports/summary", "reports:read")}


async def new_key(stack: Stack, *scopes: str, name: str = "test") -> dict:
    async with stack.client("intake") as client:
        r = await client.post("/v1/keys", json={"name": name, "scopes": list(scopes)})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.mark.parametrize("service", list(READS))
async def test_no_key_401_wrong_scope_403_right_scope_through(stack: Stack, service: str) -> None:
    path, scope = READS[service]
    other = "kb:read"  # a scope none of these reads accepts
    limited = (await new_key(stack, other))["key"]
    allowed = (await new_key(stack, scope))["key"]
    async with stack.client(service) as client:
        for headers in ({"X-API-Key": ""}, {"X-API-Key": "tl_nonsense"},
                        {"X-API-Key": f"tl_{'0' * 12}_{'0' * 48}"}):
            r = await client.get(path, headers=headers)
            assert r.status_code == 401, (service, headers, r.text)
            assert r.json()["error"] == "unauthorized"
        r = await client.get(path, headers={"X-API-Key": limited})
        assert r.status_code == 403 and r.json() == {
            "error": "forbidden", "scope": scope, "detail": f"this key lacks the {scope} scope"}
        r = await client.get(path, headers={"X-API-Key": allowed})
        assert r.status_code in (200, 404), r.text
        for open_path in ("/healthz", "/readyz", "/metrics"):
            assert (await client.get(open_path, headers={"X-API-Key": ""})).status_code == 200


async def test_a_write_needs_the_write_scope(stack: Stack) -> None:
    reader = (await new_key(stack, "tickets:read"))["key"]
    writer = (await new_key(stack, "tickets:write"))["key"]
    async with stack.client("intake", key=reader) as client:
        refused = await client.post("/v1/tickets", json=ticket())
        assert refused.status_code == 403 and refused.json()["scope"] == "tickets:write"
    async with stack.client("intake", key=writer) as client:
        assert (await client.post("/v1/tickets", json=ticket())).status_code == 201
        assert (await client.get("/v1/keys")).status_code == 403  # admin only


async def test_the_key_is_checked_before_the_body(stack: Stack) -> None:
    """A caller without the right key learns nothing from a body it got wrong."""
    reader = (await new_key(stack, "tickets:read"))["key"]
    writer = (await new_key(stack, "tickets:write"))["key"]
    broken = {"content": b'{"title": '}
    invalid = {"content": b'{"title": ""}'}
    async with stack.client("intake") as client:
        for body in (broken, invalid):
            def post(key: str, body: dict = body):  # noqa: ANN202
                return client.post("/v1/tickets", **body, headers={
                    "X-API-Key": key, "Content-Type": "application/json"})

            r = await post("")
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
            r = await post(reader)
            assert r.status_code == 403 and r.json()["scope"] == "tickets:write", r.text
            r = await post(writer)
            assert r.status_code == 422 and r.json()["error"] == "validation_error", r.text


async def test_keys_are_listed_without_secrets_revoked_and_rotated(stack: Stack) -> None:
    made = await new_key(stack, "agents:read", name="dashboard")
    assert made["key"].startswith(f"tl_{made['id']}_") and made["created_by"] == "bootstrap"
    async with stack.client("router") as admin:
        listed = (await admin.get("/v1/keys", params={"limit": 500})).json()
        mine = next(k for k in listed["items"] if k["id"] == made["id"])
        assert "key" not in mine and "key_hash" not in mine and listed["total"] >= 1
        assert (await admin.get("/v1/keys", params={"limit": 0})).status_code == 422

        rotated = await admin.post(f"/v1/keys/{made['id']}/rotate",
                                   json={"old_valid_for_s": 3600})
        assert rotated.status_code == 201, rotated.text
        new = rotated.json()
        assert new["replaces"] == made["id"] and new["scopes"] == ["agents:read"]
        async with stack.client("router", key=made["key"]) as old_client, \
                stack.client("router", key=new["key"]) as new_client:
            assert (await old_client.get("/v1/agents")).status_code == 200  # until its expiry
            assert (await new_client.get("/v1/agents")).status_code == 200

            revoked = await admin.post(f"/v1/keys/{made['id']}/revoke")
            assert revoked.status_code == 200 and revoked.json()["revoked_at"]

            async def refused() -> bool:  # within the cache's 5 seconds
                return (await old_client.get("/v1/agents")).status_code == 401

            await eventually(refused, timeout=15, what="the revoked key refused")
            assert (await new_client.get("/v1/agents")).status_code == 200
        assert (await admin.post(f"/v1/keys/{'f' * 12}/revoke")).status_code == 404
        bad = await admin.post("/v1/keys", json={"name": "x", "scopes": ["tickets:delete"]})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"].startswith(
            "body.scopes")


def test_the_first_admin_key_comes_from_the_command_line(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env["TIERLINE_DATABASE_URL"] = stack.database_url
    out = subprocess.run([sys.executable, "-m", "tierline_shared.cli", "keys", "create",
                          "--scopes", "admin", "--name", "ops", "--expires-days", "30"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    key = out.stdout.strip()
    r = httpx.get(f"{stack.url('sla')}/v1/keys", headers={"X-API-Key": key})
    assert r.status_code == 200
    ops = next(k for k in r.json()["items"] if key.startswith(f"tl_{k['id']}_"))
    assert ops["name"] == "ops" and ops["scopes"] == ["admin"] and ops["expires_at"]
    bad = subprocess.run([sys.executable, "-m", "tierline_shared.cli", "keys", "create",
                          "--scopes", "root", "--name", "x"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "root" in bad.stderr
