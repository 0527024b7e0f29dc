"""Mappings of ServiceNow, Jira and Zendesk payloads onto Tierline's ticket."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from tests.samples import sample
from tierline_intake.adapters.domain import MissingField, map_jira, map_servicenow, map_zendesk
from tierline_intake.tickets import lifecycle


def test_servicenow_incident_with_raw_values() -> None:
    ext = map_servicenow(sample("servicenow_incident"))
    assert ext.external_id == "9d385017c611228701d22104cc95c371" and ext.key == "INC0010021"
    assert ext.title == "Email server is down for the whole sales floor"
    assert ext.requester == {"id": "5137153cc611227c000bbd1bd8cd2005"}
    assert (ext.impact, ext.urgency, ext.priority) == ("high", "high", None)
    assert ext.status == "in_progress" and ext.external_status == "2"
    assert ext.categories == ("software",) and ext.channel == "phone"
    assert ext.updated_at == datetime(2026, 11, 24, 9, 10, tzinfo=UTC)
    assert ext.unmapped == ()


def test_servicenow_display_values_and_an_unwrapped_record() -> None:
    record = sample("servicenow_incident_display")["result"]
    ext = map_servicenow(record)
    assert ext.requester == {"id": "Abel Tuter", "name": "Abel Tuter"}
    assert (ext.impact, ext.urgency) == ("medium", "low")
    assert ext.status == "pending_customer" and ext.external_status == "On Hold"
    assert ext.categories == ("hardware",) and ext.channel == "portal"


def test_servicenow_canceled_and_custom_states_are_kept_and_reported() -> None:
    for state in ("8", "Canceled", "42"):
        payload = sample("servicenow_incident")
        payload["result"]["state"] = state
        ext = map_servicenow(payload)
        assert ext.status is None and ext.external_status == state
        assert [u.path for u in ext.unmapped] == ["result.state"]


def test_servicenow_priority_is_used_only_without_impact_and_urgency() -> None:
    payload = sample("servicenow_incident")
    del payload["result"]["impact"]
    payload["result"]["priority"] = "2"
    assert map_servicenow(payload).priority == "P2"


@pytest.mark.parametrize(("remove", "path"), [
    ("sys_id", "result.sys_id"),
    ("short_description", "result.short_description"),
    ("caller_id", "result.caller_id"),
    ("state", "result.state"),
])
def test_servicenow_missing_fields_name_their_path(remove: str, path: str) -> None:
    payload = sample("servicenow_incident")
    del payload["result"][remove]
    with pytest.raises(MissingField) as caught:
        map_servicenow(payload)
    assert caught.value.path == path


def test_jira_issue_created() -> None:
    ext = map_jira(sample("jira_issue_created"))
    assert (ext.system, ext.external_id, ext.key) == ("jira", "10042", "SUP-17")
    assert ext.requester == {"id": "5b10ac8d82e05b22cc7d4ef5", "name": "Ada Park",
                             "email": "ada@example.com"}
    assert ext.priority == "P2" and ext.ticket_type == "incident"
    assert ext.status == "new" and ext.external_status == "Waiting for support"
    assert "network" in ext.categories


def test_jira_issue_updated_with_a_document_format_description() -> None:
    ext = map_jira(sample("jira_issue_updated"))
    assert ext.status == "resolved" and ext.priority == "P1"
    assert ext.description == "Since this morning the VPN drops every five minutes."
    assert ext.resolution_notes == "Jira resolution: Done"
    assert ext.updated_at == datetime(2026, 11, 24, 10, 10, tzinfo=UTC)


def test_jira_unknown_status_falls_back_to_its_category_then_is_reported() -> None:
    payload = sample("jira_issue_updated")
    payload["issue"]["fields"]["status"] = {"name": "Awaiting vendor",
                                            "statusCategory": {"key": "indeterminate"}}
    assert map_jira(payload).status == "in_progress"
    payload["issue"]["fields"]["status"] = {"name": "Awaiting vendor"}
    ext = map_jira(payload)
    assert ext.status is None and ext.external_status == "Awaiting vendor"
    assert ext.unmapped[0].path == "issue.fields.status.name"


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda p: p.pop("webhookEvent"), "webhookEvent"),
    (lambda p: p.update(webhookEvent="jira:issue_deleted"), "webhookEvent"),
    (lambda p: p["issue"].pop("id"), "issue.id"),
    (lambda p: p["issue"]["fields"].pop("summary"), "issue.fields.summary"),
    (lambda p: p["issue"]["fields"].pop("reporter"), "issue.fields.reporter"),
    (lambda p: p["issue"]["fields"]["reporter"].pop("accountId"),
     "issue.fields.reporter.accountId"),
    (lambda p: p["issue"]["fields"].pop("status"), "issue.fields.status.name"),
])
def test_jira_missing_fields_name_their_path(mutate, path: str) -> None:
    payload = copy.deepcopy(sample("jira_issue_created"))
    mutate(payload)
    with pytest.raises(MissingField) as caught:
        map_jira(payload)
    assert caught.value.path == path


def test_zendesk_ticket_from_the_api() -> None:
    ext = map_zendesk(sample("zendesk_ticket"))
    assert (ext.external_id, ext.key) == ("35436", "#35436")
    assert ext.title == "Help, my printer is on fire!" and ext.requester == {"id": "20978392"}
    assert ext.priority == "P2" and ext.status == "in_progress" and ext.channel == "portal"
    assert ext.ticket_type == "incident"


def test_zendesk_event_based_webhook() -> None:
    ext = map_zendesk(sample("zendesk_event_webhook"))
    assert ext.external_id == "35436" and ext.priority == "P1"
    assert ext.status == "pending_customer" and ext.external_status == "PENDING"


@pytest.mark.parametrize(("mutate", "path"), [
    (lambda t: t.pop("id"), "ticket.id"),
    (lambda t: t.pop("requester_id"), "ticket.requester_id"),
    (lambda t: [t.pop(k) for k in ("subject", "raw_subject", "description")],
     "ticket.subject"),
    (lambda t: t.pop("status"), "ticket.status"),
])
def test_zendesk_missing_fields_name_their_path(mutate, path: str) -> None:
    payload = sample("zendesk_ticket")
    mutate(payload["ticket"])
    with pytest.raises(MissingField) as caught:
        map_zendesk(payload)
    assert caught.value.path == path


def test_zendesk_unknown_status_is_reported() -> None:
    payload = sample("zendesk_ticket")
    payload["ticket"]["status"] = "escalated_to_vendor"
    ext = map_zendesk(payload)
    assert ext.status is None and ext.unmapped[0].value == "escalated_to_vendor"


@pytest.mark.parametrize(("current", "target", "path"), [
    ("new", "in_progress", ["in_progress"]),
    ("new", "closed", ["resolved", "closed"]),
    ("in_progress", "closed", ["resolved", "closed"]),
    ("resolved", "closed", ["closed"]),
    ("resolved", "in_progress", ["reopened", "in_progress"]),
    ("pending_customer", "new", ["in_progress"]),
    ("in_progress", "new", []),
    ("in_progress", "in_progress", []),
])
def test_external_statuses_are_followed_through_the_lifecycle(current: str, target: str,
                                                              path: list[str]) -> None:
    assert [m.to_status for m in lifecycle.follow_external(current, target)] == path


def test_a_closed_ticket_does_not_follow_its_external_system_back() -> None:
    with pytest.raises(lifecycle.TransitionRefused):
        lifecycle.follow_external("closed", "in_progress")
