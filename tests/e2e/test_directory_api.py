"""The customer directory in the running intake: bulk import, REST, and every new ticket
enriched with the customer's profile and recent tickets (plan, VIP and language reach
TicketCreated for the routing rules and the priority policy)."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.helpers import header, read_topic
from tests.samples import sample

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def import_rows(stack: Stack, name: str, content: str | bytes,
                      content_type: str, **headers: str) -> httpx.Response:
    async with stack.client("intake") as client:
        return await client.post(f"/v1/{name}/import", content=content,
                                 headers={"content-type": content_type, **headers})


async def test_import_then_enrich_a_new_ticket(intake: Stack) -> None:
    acme, ada = uid("acme"), uid("u")
    accounts_csv = ("id,name,plan,tier,vip,region,language,products,customer_since\n"
                    f"{acme},Acme Corp,enterprise,gold,false,EMEA,de,vpn;email,2019-04-01\n")
    r = await import_rows(intake, "accounts", accounts_csv, "text/csv")
    assert r.status_code == 200, r.text
    assert r.json() == {"imported": 1, "created": 1, "updated": 0}
    customers = [{"id": ada, "account_id": acme, "name": "Ada Park", "vip": True,
                  "email": f"{ada}@example.com", "products": ["laptop"]}]
    r = await import_rows(intake, "customers", json.dumps({"customers": customers}),
                          "application/json")
    assert r.status_code == 200 and r.json()["created"] == 1, r.text

    async with intake.client("intake") as client:
        profile = (await client.get(f"/v1/customers/{ada}")).json()["profile"]
        assert (profile["plan"], profile["vip"], profile["language"]) == ("enterprise", True,
                                                                          "de")
        assert profile["products"] == ["vpn", "email", "laptop"]
        first = (await client.post("/v1/tickets", json={
            "title": "Cannot print invoices", "description": "The printer queue is stuck",
            "channel": "email", "requester": {"id": ada}, "impact": "low",
            "urgency": "low"})).json()
        second = (await client.post("/v1/tickets", json={
            "title": "VPN keeps disconnecting", "description": "It drops every few minutes",
            "channel": "portal", "requester": {"id": ada}, "impact": "medium"})).json()
    assert second["requester"]["vip"] is True and second["requester"]["plan"] == "enterprise"
    assert second["context"]["customer"]["account_name"] == "Acme Corp"
    assert second["context"]["customer"]["language"] == "de"
    assert [t["id"] for t in second["context"]["recent_tickets"]] == [first["id"]]
    # The directory's VIP flag reaches the priority policy: the urgency is raised.
    assert (second["urgency"], second["priority"]) == ("high", "P2")
    assert any("VIP" in r["reason"] for r in second["reasons"] if r["field"] == "urgency")
    customer_reason = next(r for r in second["reasons"] if r["field"] == "customer")
    assert "plan enterprise" in customer_reason["reason"] and "VIP" in customer_reason["reason"]

    records = await read_topic(intake.bootstrap, intake.topics.incidents, until=lambda rs: any(
        r.key == second["id"].encode() for r in rs))
    created = next(json.loads(r.value) for r in records if r.key == second["id"].encode()
                   and header(r, "ce_type") == "tierline.ticket.created.v1")
    assert (created["vip"], created["plan"], created["language"]) == (True, "enterprise", "de")


async def test_an_adapter_ticket_finds_its_customer_by_email(intake: Stack) -> None:
    await import_rows(intake, "customers", json.dumps([{
        "id": "ada-directory", "email": "ada@example.com", "vip": True, "language": "fr"}]),
        "application/json")
    payload = sample("jira_issue_created")
    payload["issue"]["id"] = "20001"
    r = await intake.client("intake").post("/v1/adapters/jira",
                                                                    json=payload)
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert ticket["context"]["customer"]["customer_id"] == "ada-directory"
    assert ticket["requester"]["vip"] is True


async def test_put_and_get_customers_and_accounts(intake: Stack) -> None:
    async with intake.client("intake") as client:
        acct = await client.put("/v1/accounts/globex", json={
            "name": "Globex", "plan": "premium", "region": "AMER", "language": "en"})
        assert acct.status_code == 200 and acct.json()["plan"] == "premium"
        put = await client.put("/v1/customers/hank", json={"account_id": "globex",
                                                           "name": "Hank", "tier": "silver"})
        assert put.status_code == 200, put.text
        assert put.json()["profile"]["plan"] == "premium"
        assert put.json()["profile"]["tier"] == "silver"
        assert (await client.get("/v1/accounts/globex")).json()["region"] == "AMER"
        assert (await client.get("/v1/customers/nobody")).status_code == 404
        bad = await client.put("/v1/customers/hank", json={"account_id": "no-such"})
        assert bad.status_code == 422
        assert bad.json()["detail"][0]["field"] == "body.account_id"
        bad = await client.put("/v1/customers/hank", json={"vip": "sometimes"})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.vip"


@pytest.mark.parametrize(("name", "content", "content_type", "status", "field"), [
    ("accounts", "id,name,vip\nx1,X,perhaps\n", "text/csv", 422, "line[2].vip"),
    ("customers", "id,account_id\nc1,no-such-account\n", "text/csv", 422,
     "line[2].account_id"),
    ("customers", '[{"id": "c1", "account_id": "no-such"}]', "application/json", 422,
     "customers[0].account_id"),
    ("customers", '{"id": "c1"}', "application/json", 422, "body"),
    ("customers", '[{"id": "c1"', "application/json", 422, "body"),
    ("customers", b"\xff\xfe", "text/csv", 422, "body"),
    ("customers", "<xml/>", "application/xml", 415, None),
])
async def test_bad_imports_change_nothing(intake: Stack, name: str, content: str,
                                          content_type: str, status: int,
                                          field: str | None) -> None:
    before = await intake.scalar(f"SELECT count(*) FROM intake.{name}")
    r = await import_rows(intake, name, content, content_type)
    assert r.status_code == status, r.text
    if field is not None:
        assert field in [p["field"] for p in r.json()["detail"]]
    assert await intake.scalar(f"SELECT count(*) FROM intake.{name}") == before


async def test_an_import_replayed_with_its_key_changes_nothing(intake: Stack) -> None:
    key = uid("import")
    body = "id,name\nreplay-acct,Replay\n"
    first = await import_rows(intake, "accounts", body, "text/csv", **{"Idempotency-Key": key})
    again = await import_rows(intake, "accounts", body, "text/csv", **{"Idempotency-Key": key})
    assert first.json() == again.json() == {"imported": 1, "created": 1, "updated": 0}
    assert again.headers["idempotent-replayed"] == "true"
    other = await import_rows(intake, "accounts", body + "x,Y\n", "text/csv",
                              **{"Idempotency-Key": key})
    assert other.status_code == 422 and other.json()["error"] == "idempotency_key_reused"
