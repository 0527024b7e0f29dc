"""Chat and IVR contacts into the running intake, over REST and over Kafka: a chat handed
off to phone keeps its history and its ticket, repeat contacts link to one ticket,
self-service deflects, bad events are refused or dead-lettered."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.e2e.channels_stack import intake_fixture  # noqa: F401
from tests.e2e.conftest import Stack
from tests.helpers import eventually, header, produce, read_topic
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import InteractionOccurred

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def send(stack: Stack, **body: Any) -> httpx.Response:
    async with stack.client("intake") as client:
        return await client.post("/v1/interactions", json=body)


async def get(stack: Stack, path: str) -> Any:
    async with stack.client("intake") as client:
        r = await client.get(path)
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_chat_handed_off_to_phone_keeps_its_history_and_ticket(intake: Stack) -> None:
    chat, call, customer = uid("chat"), uid("call"), uid("c")
    started = await send(intake, interaction_id=chat, kind="contact_started", channel="chat",
                         customer_id=customer, customer_name="Ada Park",
                         about="My VPN keeps disconnecting")
    assert started.status_code == 201, started.text
    assert started.json()["interaction"]["ticket_id"] is None  # no agent needed yet
    for body in ({"kind": "message", "author": "customer",
                  "text": "It drops every five minutes since this morning"},
                 {"kind": "message", "author": "bot", "text": "Have you tried this article?"},
                 {"kind": "self_service", "outcome": "not_resolved"}):
        assert (await send(intake, interaction_id=chat, **body)).status_code == 200
    handed = await send(intake, interaction_id=chat, kind="transfer", to_channel="phone",
                        to_interaction_id=call)
    assert handed.status_code == 200, handed.text
    assert handed.json()["effects"] == ["ticket_opened", "handed_off"]
    ticket_id = handed.json()["interaction"]["ticket_id"]
    assert handed.json()["interaction"]["status"] == "transferred"

    # The phone front announces the call it took over; then the agent talks, the call ends.
    took = await send(intake, interaction_id=call, kind="contact_started", channel="phone",
                      customer_id=customer, transferred_from=chat)
    assert took.status_code == 200, took.text
    for body in ({"kind": "message", "author": "agent", "agent_id": "ana",
                  "text": "I will renew your VPN profile now"},
                 {"kind": "contact_ended"}, {"kind": "csat", "score": 5}):
        assert (await send(intake, interaction_id=call, **body)).status_code == 200, body

    detail = await get(intake, f"/v1/interactions/{call}")
    assert detail["ticket_id"] == ticket_id and detail["transferred_from"] == chat
    assert detail["status"] == "ended" and detail["csat"] == 5
    legs = [(h["interaction_id"], h["kind"]) for h in detail["history"]]
    assert legs == [(chat, "contact_started"), (chat, "message"), (chat, "message"),
                    (chat, "self_service"), (chat, "transfer"), (call, "contact_started"),
                    (call, "message"), (call, "contact_ended"), (call, "csat")]
    assert detail["history"][1]["channel"] == "chat"
    assert detail["history"][1]["detail"]["text"].startswith("It drops")

    ticket = await get(intake, f"/v1/tickets/{ticket_id}")
    assert ticket["channel"] == "chat" and ticket["repeat_contacts"] == 0
    assert "It drops every five minutes" in ticket["description"]
    linked = await get(intake, f"/v1/tickets/{ticket_id}/interactions")
    assert [(i["id"], i["channel"]) for i in linked] == [(chat, "chat"), (call, "phone")]
    kinds = [e["kind"] for e in await get(intake, f"/v1/tickets/{ticket_id}/history")]
    assert kinds.count("contact_linked") == 2 and "csat_answered" in kinds

    topic = intake.topics.for_type(ticket["type"])
    records = await read_topic(intake.bootstrap, topic, until=lambda rs: sum(
        1 for r in rs if header(r, "ce_type") == "tierline.ticket.contact_linked.v1"
        and r.key == ticket_id.encode()) == 2)
    handoff = [json.loads(r.value) for r in records
               if header(r, "ce_type") == "tierline.ticket.contact_linked.v1"
               and r.key == ticket_id.encode()][1]
    assert handoff["transferred_from"] == chat and handoff["repeat"] is False


async def test_repeat_contacts_about_the_same_issue_link_to_one_ticket(intake: Stack) -> None:
    customer = uid("c")
    async with intake.client("intake") as client:
        first = await client.post("/v1/tickets", json={
            "title": "Printer on floor 3 jams", "channel": "portal",
            "description": "The printer on floor 3 jams on every print job",
            "requester": {"id": customer}})
    ticket_id = first.json()["id"]

    call = uid("call")
    await send(intake, interaction_id=call, kind="contact_started", channel="ivr",
               customer_id=customer)
    menu = await send(intake, interaction_id=call, kind="ivr_menu",
                      menu_path=["Hardware", "Printer"])
    assert menu.json()["effects"] == ["repeat_contact"]  # the caller's path says enough
    assert menu.json()["interaction"]["ticket_id"] == ticket_id
    said = await send(intake, interaction_id=call, kind="message", author="customer",
                      text="the printer on floor three is jamming again")
    assert said.json()["effects"] == []  # already linked: counted once per contact

    call = uid("call")
    await send(intake, interaction_id=call, kind="contact_started", channel="ivr",
               customer_id=customer)
    said = await send(intake, interaction_id=call, kind="message", author="customer",
                      text="the printer on floor three is jamming again")
    assert said.json()["effects"] == ["repeat_contact"]
    assert said.json()["interaction"]["ticket_id"] == ticket_id

    chat = await send(intake, interaction_id=uid("chat"), kind="contact_started",
                      channel="chat", customer_id=customer,
                      about="Printer jams again on floor 3, still not fixed")
    assert chat.json()["effects"] == ["repeat_contact"] and chat.json()["interaction"]["repeat"]
    assert chat.json()["interaction"]["ticket_id"] == ticket_id

    other = await send(intake, interaction_id=uid("chat"), kind="contact_started",
                       channel="chat", customer_id=customer,
                       about="I need access to the finance share")
    assert other.json()["effects"] == [] and other.json()["interaction"]["ticket_id"] is None
    stranger = await send(intake, interaction_id=uid("chat"), kind="contact_started",
                          channel="chat", customer_id=uid("c"),
                          about="Printer jams again on floor 3")
    assert stranger.json()["interaction"]["ticket_id"] is None

    ticket = await get(intake, f"/v1/tickets/{ticket_id}")
    assert ticket["repeat_contacts"] == 3
    assert await intake.scalar("SELECT count(*) FROM intake.tickets "
                               "WHERE requester->>'id' = :c", c=customer) == 1
    history = await get(intake, f"/v1/tickets/{ticket_id}/history")
    assert all(e["detail"]["repeat"] for e in history if e["kind"] == "contact_linked")


async def test_a_contact_naming_its_ticket_counts_as_a_repeat(intake: Stack) -> None:
    customer = uid("c")
    async with intake.client("intake") as client:
        logged = await client.post("/v1/tickets", json={
            "title": "Laptop will not boot", "description": "Black screen on start",
            "channel": "email", "requester": {"id": customer}})
    ticket_id = logged.json()["id"]
    r = await send(intake, interaction_id=uid("call"), kind="contact_started", channel="phone",
                   customer_id=customer, ticket_id=ticket_id)
    assert r.status_code == 201 and r.json()["effects"] == ["repeat_contact"]
    assert (await get(intake, f"/v1/tickets/{ticket_id}"))["repeat_contacts"] == 1


async def test_self_service_resolution_deflects_before_any_agent(intake: Stack) -> None:
    chat = uid("chat")
    await send(intake, interaction_id=chat, kind="contact_started", channel="chat",
               customer_id=uid("c"), about="How do I reset my password?")
    done = await send(intake, interaction_id=chat, kind="self_service", outcome="resolved",
                      article_id=str(uuid.uuid4()))
    assert done.json()["effects"] == ["ticket_opened", "deflected"]
    assert done.json()["interaction"]["deflected"] is True
    ticket_id = done.json()["interaction"]["ticket_id"]
    ticket = await get(intake, f"/v1/tickets/{ticket_id}")
    assert ticket["deflected"] is True and ticket["status"] == "resolved"
    ended = await send(intake, interaction_id=chat, kind="contact_ended")
    assert ended.json()["effects"] == []  # nothing left to follow up

    topic = intake.topics.for_type(ticket["type"])
    records = await read_topic(intake.bootstrap, topic, until=lambda rs: any(
        r.key == ticket_id.encode() and header(r, "ce_type") == "tierline.ticket.created.v1"
        for r in rs))
    created = next(json.loads(r.value) for r in records if r.key == ticket_id.encode()
                   and header(r, "ce_type") == "tierline.ticket.created.v1")
    assert created["deflected"] is True


def envelope(**fields: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    event = InteractionOccurred(occurred_at=datetime.now(UTC), **fields)
    env = Envelope.wrap(event, source="/fronts/ivr", time=datetime.now(UTC))
    return env.key, env.body(), env.headers()


async def test_fronts_producing_on_kafka_are_applied_like_rest(intake: Stack) -> None:
    call, customer = uid("call"), uid("c")
    await produce(intake.bootstrap, intake.topics.interactions, [
        envelope(interaction_id=call, kind="contact_started", channel="ivr",
                 customer_id=customer),
        envelope(interaction_id=call, kind="ivr_menu", menu_path=["Network", "Wi-Fi"]),
        envelope(interaction_id=call, kind="message", author="customer",
                 text="The office wifi keeps dropping my laptop"),
        envelope(interaction_id=call, kind="contact_ended"),
    ])

    async def ended() -> Any:
        async with intake.client("intake") as client:
            r = await client.get(f"/v1/interactions/{call}")
        return r.json() if r.status_code == 200 and r.json()["status"] == "ended" else None

    detail = await eventually(ended, what="the IVR contact ended")
    assert detail["ticket_id"] is not None  # ended unresolved: a ticket to follow up
    assert [h["kind"] for h in detail["history"]] == ["contact_started", "ivr_menu",
                                                      "message", "contact_ended"]
    ticket = await get(intake, f"/v1/tickets/{detail['ticket_id']}")
    assert ticket["channel"] == "ivr" and ticket["title"] == "Network > Wi-Fi"


async def test_a_broken_interaction_on_kafka_is_dead_lettered(intake: Stack) -> None:
    key, value, headers = envelope(interaction_id=uid("chat"), kind="contact_ended")
    broken = json.dumps({**json.loads(value), "kind": "message"}).encode()  # no text
    orphan = envelope(interaction_id=uid("nobody"), kind="contact_ended")
    await produce(intake.bootstrap, intake.topics.interactions,
                  [(key, broken, headers), orphan])
    records = await read_topic(intake.bootstrap, intake.topics.deadletter, until=lambda rs: {
        r.key for r in rs} >= {key, orphan[0]})
    errors = {r.key: header(r, "dlq_error") for r in records}
    assert errors[key].startswith("invalid: body does not match "
                                  "tierline.interaction.occurred.v1")
    assert "InteractionNotFound" in errors[orphan[0]]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"kind": "contact_started", "channel": "chat"}, 422, "body.customer_id"),
    ({"kind": "contact_started", "channel": "fax", "customer_id": "c"}, 422, "body.channel"),
    ({"kind": "message", "author": "customer"}, 422, "body.text"),
    ({"kind": "csat", "score": 9}, 422, "body.score"),
    ({"kind": "contact_started", "channel": "chat", "customer_id": "c",
      "ticket_id": str(uuid.uuid4())}, 422, "body.ticket_id"),
    ({"kind": "hold_music"}, 422, "body.kind"),
    ({"kind": "contact_ended"}, 404, None),
])
async def test_bad_interactions_are_refused(intake: Stack, body: dict[str, Any], status: int,
                                            field: str | None) -> None:
    r = await send(intake, interaction_id=uid("x"), **body)
    assert r.status_code == status, r.text
    if field is not None:
        assert field in [p["field"] for p in r.json()["detail"]]


async def test_an_ended_contact_takes_no_more_messages(intake: Stack) -> None:
    chat = uid("chat")
    await send(intake, interaction_id=chat, kind="contact_started", channel="chat",
               customer_id=uid("c"), about="Where is my invoice?")
    await send(intake, interaction_id=chat, kind="contact_ended")
    again = await send(intake, interaction_id=chat, kind="message", author="customer",
                       text="hello?")
    assert again.status_code == 409 and again.json()["status"] == "ended"
    restart = await send(intake, interaction_id=chat, kind="contact_started", channel="chat",
                         customer_id="c")
    assert restart.status_code == 409
