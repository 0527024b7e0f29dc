"""The audit log's diff: only what changed, before and after, with personal data redacted."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from tierline_shared.audit import REDACTED, diff


def test_only_the_changed_fields_with_their_values_before_and_after() -> None:
    before = {"status": "new", "priority": "P3", "title": "VPN down", "csat": None}
    after = {"status": "acknowledged", "priority": "P3", "title": "VPN down", "csat": None}
    assert diff(before, after) == {"status": {"before": "new", "after": "acknowledged"}}
    assert diff(before, before) == {}


def test_a_field_missing_on_one_side_is_none_there_so_a_creation_lists_what_is_set() -> None:
    assert diff({}, {"priority": "P2", "subcategory": None}) == {
        "priority": {"before": None, "after": "P2"}}
    assert diff({"team": "network"}, {}) == {"team": {"before": "network", "after": None}}


def test_nested_mappings_are_compared_field_by_field_under_dotted_names() -> None:
    before = {"skills": {"network": 3, "vpn": 2}, "channels": {"chat": 3}}
    after = {"skills": {"network": 4, "access": 1}, "channels": {"chat": 3}}
    assert diff(before, after) == {
        "skills.network": {"before": 3, "after": 4},
        "skills.vpn": {"before": 2, "after": None},
        "skills.access": {"before": None, "after": 1},
    }
    # a mapping appearing where there was none is one change, shown whole
    assert diff({"working_hours": None}, {"working_hours": {"mon": ["09:00-17:00"]}}) == {
        "working_hours": {"before": None, "after": {"mon": ["09:00-17:00"]}}}


def test_values_come_out_ready_for_json() -> None:
    at = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    ticket = UUID("12345678-1234-5678-1234-567812345678")
    assert diff({"resolved_at": None, "ticket": None}, {"resolved_at": at, "ticket": ticket}) == {
        "resolved_at": {"before": None, "after": "2026-11-25T09:30:00+00:00"},
        "ticket": {"before": None, "after": str(ticket)}}
    assert diff({"languages": ("en",)}, {"languages": ["en"]}) == {}
    assert diff({"languages": ["en"]}, {"languages": ["en", "pt"]}) == {
        "languages": {"before": ["en"], "after": ["en", "pt"]}}


def test_a_type_change_is_a_change() -> None:
    assert diff({"flag": 1}, {"flag": True}) == {"flag": {"before": 1, "after": True}}


def test_personal_fields_record_that_they_changed_never_the_value() -> None:
    before = {"requester": {"id": "u-1", "email": "ada@example.com", "phone": "+44 20 7946 0958"}}
    after = {"requester": {"id": "u-1", "email": "ada.park@example.org", "phone": None}}
    assert diff(before, after) == {
        "requester.email": {"before": REDACTED, "after": REDACTED},
        "requester.phone": {"before": REDACTED, "after": None}}
    # even a value that does not look like an address, and inside a whole new record
    created = diff({}, {"requester": {"id": "u-2", "email": "not an address", "phone": "12"}})
    assert created == {"requester": {"before": None, "after": {
        "id": "u-2", "email": REDACTED, "phone": REDACTED}}}
    assert diff({"requester": {"email": "same@example.com"}},
                {"requester": {"email": "same@example.com"}}) == {}


def test_emails_and_phone_numbers_in_any_text_are_masked_as_in_the_logs() -> None:
    changes = diff({}, {"comment": {"text": "call me on +44 20 7946 0958 or ada@example.com",
                                    "author": "ana"},
                        "notes": ["mail bob@example.com"]})
    assert changes["comment"]["after"] == {"text": "call me on [phone] or [email]",
                                           "author": "ana"}
    assert changes["notes"]["after"] == ["mail [email]"]


def test_a_personal_field_named_by_the_caller() -> None:
    assert diff({"ssn": "123"}, {"ssn": "456"}, personal=frozenset({"ssn"})) == {
        "ssn": {"before": REDACTED, "after": REDACTED}}


def test_the_inputs_are_left_alone() -> None:
    before = {"requester": {"email": "ada@example.com"}}
    after = {"requester": {"email": "bob@example.com"}}
    diff(before, after)
    assert before == {"requester": {"email": "ada@example.com"}}
    assert after == {"requester": {"email": "bob@example.com"}}
