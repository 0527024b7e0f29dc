"""The knowledge base in the running intake: suggestions for tickets and chats by their own
wording and by paraphrases, deflection, stale articles, proposals from Tier 2 resolutions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.helpers import eventually, produce
from tests.unit.kb_articles import ARTICLES, PARAPHRASES
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import TicketAssigned, TicketOfferAnswered

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture(scope="module")
async def kb(intake: Stack) -> dict[str, str]:
    """The test knowledge base, published; the invoice article last reviewed 120 days ago."""
    ids = {}
    async with intake.client("intake") as client:
        for name, (title, body, category) in ARTICLES.items():
            article: dict[str, Any] = {"title": title, "body": body, "category": category,
                                       "owner": f"{category}-team"}
            if name == "invoice":
                article["last_reviewed_at"] = (datetime.now(UTC)
                                               - timedelta(days=120)).isoformat()
            r = await client.post("/v1/kb/articles", json=article)
            assert r.status_code == 201, r.text
            ids[name] = r.json()["id"]
    return ids


async def top(stack: Stack, q: str) -> list[dict[str, Any]]:
    async with stack.client("intake") as client:
        r = await client.get("/v1/kb/suggestions", params={"q": q})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("name", list(ARTICLES))
async def test_suggestions_find_the_article_by_its_wording_and_paraphrases(
        intake: Stack, kb: dict[str, str], name: str) -> None:
    title, body, _ = ARTICLES[name]
    for query in [title, body.split(".")[0], *PARAPHRASES[name]]:
        found = await top(intake, query)
        assert found[0]["article_id"] == kb[name], (query, found)
        assert len(found) <= 3 and found[0]["score"] > 0


async def test_every_new_ticket_and_chat_gets_its_top_three(intake: Stack,
                                                           kb: dict[str, str]) -> None:
    async with intake.client("intake") as client:
        ticket = (await client.post("/v1/tickets", json={
            "title": "Locked out", "channel": "portal", "requester": {"id": "u-kb-1"},
            "description": "I typed the wrong password too many times and now I'm locked"}
        )).json()
        chat = (await client.post("/v1/interactions", json={
            "interaction_id": f"chat-{uuid.uuid4().hex[:8]}", "kind": "contact_started",
            "channel": "chat", "customer_id": "u-kb-2",
            "about": "remote access keeps dropping my connection"})).json()
    suggestions = ticket["context"]["kb_suggestions"]
    assert suggestions[0]["article_id"] == kb["lockout"] and 1 <= len(suggestions) <= 3
    assert all(s["score"] > 0 for s in suggestions)
    assert chat["interaction"]["suggestions"][0]["article_id"] == kb["vpn"]


async def test_a_ticket_closed_by_an_article_is_deflected(intake: Stack,
                                                         kb: dict[str, str]) -> None:
    async with intake.client("intake") as client:
        r = await client.post("/v1/tickets", json={
            "title": "Forgot my password", "description": "Used the reset article",
            "channel": "portal", "requester": {"id": "u-kb-3"}, "deflected_by": kb["password"]})
        assert r.status_code == 201, r.text
        assert r.json()["deflected"] is True and r.json()["status"] == "resolved"
        chat = f"chat-{uuid.uuid4().hex[:8]}"
        await client.post("/v1/interactions", json={
            "interaction_id": chat, "kind": "contact_started", "channel": "chat",
            "customer_id": "u-kb-4", "about": "I forgot my password"})
        await client.post("/v1/interactions", json={
            "interaction_id": chat, "kind": "self_service", "outcome": "resolved",
            "article_id": kb["password"]})
        article = (await client.get(f"/v1/kb/articles/{kb['password']}")).json()
        assert article["deflections"] == 2
        bad = await client.post("/v1/tickets", json={
            "title": "x", "description": "y", "channel": "portal",
            "requester": {"id": "u"}, "deflected_by": str(uuid.uuid4())})
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "body.deflected_by"


async def test_articles_not_reviewed_for_90_days_are_stale(intake: Stack,
                                                          kb: dict[str, str]) -> None:
    async with intake.client("intake") as client:
        stale = (await client.get("/v1/kb/stale")).json()["items"]
        assert [a["id"] for a in stale] == [kb["invoice"]]
        assert stale[0]["days_since_review"] >= 120
        r = await client.post(f"/v1/kb/articles/{kb['invoice']}/reviews",
                              json={"by": "billing-team"})
        assert r.status_code == 200
        assert (await client.get("/v1/kb/stale")).json()["items"] == []


async def assign(stack: Stack, ticket_id: str, tier: int) -> None:
    """Router offers the ticket to a Tier ``tier`` agent, who accepts it."""
    now = datetime.now(UTC)
    offered = TicketAssigned(ticket_id=uuid.UUID(ticket_id), agent_id=f"agent-t{tier}",
                             agent_tier=tier, priority="P3", category="network",
                             channel="portal", assigned_at=now)
    accepted = TicketOfferAnswered(ticket_id=uuid.UUID(ticket_id), agent_id=f"agent-t{tier}",
                                   outcome="accepted", answered_at=now)
    envs = [Envelope.wrap(e, source="/tierline/router", time=now) for e in (offered, accepted)]
    await produce(stack.bootstrap, stack.topics.routing,
                  [(env.key, env.body(), env.headers()) for env in envs])

    async def held() -> bool:
        return await stack.scalar("SELECT assigned_tier FROM intake.tickets WHERE id = :i",
                                  i=uuid.UUID(ticket_id)) == tier

    await eventually(held, what=f"intake saw the Tier {tier} assignment")


async def test_a_tier_2_resolution_proposes_an_article(intake: Stack) -> None:
    async with intake.client("intake") as client:
        async def resolve(ticket_id: str) -> httpx.Response:
            return await client.post(f"/v1/tickets/{ticket_id}/events", json={
                "type": "status_change", "status": "resolved", "actor": "tara",
                "resolution_notes": "Cleared the stale DHCP lease on the dock; re-plugging "
                                    "the dock now gets an address", "propose_article": True})

        new = lambda: client.post("/v1/tickets", json={  # noqa: E731
            "title": "Docking station gives no network", "channel": "portal",
            "description": "The laptop gets no address when docked",
            "requester": {"id": "u-kb-5"}})
        tier1 = (await new()).json()["id"]
        await assign(intake, tier1, 1)
        refused = await resolve(tier1)
        assert refused.status_code == 422
        assert refused.json()["detail"][0]["field"] == "body.propose_article"

        tier2 = (await new()).json()["id"]
        await assign(intake, tier2, 2)
        assert (await resolve(tier2)).status_code == 200
        proposed = (await client.get("/v1/kb/articles",
                                     params={"status": "proposed"})).json()["items"]
        mine = [a for a in proposed if a["source_ticket_id"] == tier2]
        assert len(mine) == 1 and mine[0]["owner"] == "tara"
        assert mine[0]["title"] == "Docking station gives no network"
        before = await top(intake, "docking station no network")
        assert mine[0]["id"] not in [s["article_id"] for s in before]  # not yet published
        published = await client.post(f"/v1/kb/articles/{mine[0]['id']}/reviews",
                                      json={"by": "network-team", "action": "publish"})
        assert published.json()["status"] == "published"
    assert (await top(intake, "docking station no network"))[0]["article_id"] == mine[0]["id"]


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("post", "/v1/kb/articles", {"title": "t", "body": "b"}, "body.owner"),
    ("post", "/v1/kb/articles", {"title": "", "body": "b", "owner": "o"}, "body.title"),
    ("get", "/v1/kb/suggestions", None, "query.q"),
    ("get", "/v1/kb/articles/not-a-uuid", None, "path.article_id"),
])
async def test_bad_kb_requests_name_the_field(intake: Stack, method: str, path: str,
                                              body: Any, field: str) -> None:
    async with intake.client("intake") as client:
        r = await client.request(method, path, json=body)
    assert r.status_code == 422 and field in [p["field"] for p in r.json()["detail"]]
