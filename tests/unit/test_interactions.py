"""Repeat-contact matching and interaction events' required fields."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tierline_intake.interactions.domain import Candidate, match_repeat, similarity, transcript
from tierline_shared.bus.events import InteractionOccurred, interaction_missing

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
VPN = Candidate(uuid.uuid4(), "VPN keeps disconnecting\nThe VPN drops every few minutes",
                "in_progress", NOW - timedelta(hours=5))
PRINTER = Candidate(uuid.uuid4(), "Printer jams\nThe printer on floor 3 jams on every job",
                    "new", NOW - timedelta(hours=1))


def test_the_same_issue_in_other_words_is_a_repeat() -> None:
    found = match_repeat("my vpn disconnected again, it keeps dropping", NOW, [PRINTER, VPN])
    assert found is not None and found.ticket_id == VPN.ticket_id
    assert "within 5.0 h" in found.reason and found.score >= 0.3


def test_another_issue_is_not_a_repeat() -> None:
    assert match_repeat("I need a new monitor for my desk", NOW, [PRINTER, VPN]) is None


def test_outside_the_window_or_closed_is_not_a_repeat() -> None:
    old = Candidate(VPN.ticket_id, VPN.text, "in_progress", NOW - timedelta(hours=73))
    closed = Candidate(VPN.ticket_id, VPN.text, "closed", NOW - timedelta(hours=1))
    assert match_repeat("vpn keeps disconnecting", NOW, [old, closed]) is None
    assert match_repeat("vpn keeps disconnecting", NOW, [old],
                        window=timedelta(hours=96)) is not None


def test_the_most_similar_ticket_wins() -> None:
    other_vpn = Candidate(uuid.uuid4(), "VPN client licence renewal", "new", NOW)
    found = match_repeat("VPN drops every few minutes", NOW, [other_vpn, VPN])
    assert found is not None and found.ticket_id == VPN.ticket_id


def test_similarity_ignores_stop_words_and_word_endings() -> None:
    assert similarity("the printer is jamming", "printers jammed") == pytest.approx(1.0)
    assert similarity("printer jams", "printer jammed") == pytest.approx(1.0)
    assert similarity("hello there", "thanks") == 0.0


def test_transcript_keeps_messages_and_menu_paths() -> None:
    assert transcript([("contact_started", None, None), ("ivr_menu", None, "IT > VPN"),
                       ("message", "customer", "It drops")]) == "IVR: IT > VPN\ncustomer: It drops"


@pytest.mark.parametrize(("values", "missing"), [
    ({"kind": "contact_started"}, ["channel", "customer_id"]),
    ({"kind": "message", "author": "customer"}, ["text"]),
    ({"kind": "ivr_menu", "menu_path": []}, ["menu_path"]),
    ({"kind": "transfer"}, ["to_channel"]),
    ({"kind": "csat"}, ["score"]),
    ({"kind": "contact_ended"}, []),
])
def test_each_kind_names_what_it_needs(values: dict, missing: list[str]) -> None:
    assert interaction_missing(values) == missing


def test_an_incomplete_event_on_the_topic_does_not_validate() -> None:
    with pytest.raises(ValidationError, match="needs text"):
        InteractionOccurred(interaction_id="c1", kind="message", author="customer",
                            occurred_at=NOW)
    event = InteractionOccurred(interaction_id="c1", kind="contact_ended", occurred_at=NOW)
    assert event.subject == "c1"
