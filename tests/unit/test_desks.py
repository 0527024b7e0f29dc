"""Desk connections' pure parts: signatures in, request shapes out, retry and circuit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from tierline_intake.desks import policy
from tierline_intake.desks import signatures as sig
from tierline_intake.desks.vault import Vault, check_key, redacted
from tierline_intake.desks.vendors import (
    authorization,
    current_assignee,
    note_text,
    read_step,
    servicenow_table,
    write_steps,
)
from tierline_shared.settings import DEV_DESK_SECRETS_KEY, Settings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SECRET = "a-webhook-secret-of-some-length"


def test_jira_signature_is_websub_hmac_of_the_body_and_must_be_fresh() -> None:
    body = json.dumps({"timestamp": int(NOW.timestamp() * 1000), "issue": {}}).encode()
    header = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert sig.jira_signature(SECRET, body) == header
    sig.verify_jira(SECRET, header, body, NOW)
    with pytest.raises(sig.Refused, match="does not sign"):
        sig.verify_jira("another-secret-entirely", header, body, NOW)
    with pytest.raises(sig.Refused, match="does not sign"):
        sig.verify_jira(SECRET, header, body + b" ", NOW)
    with pytest.raises(sig.Refused, match="stale"):
        sig.verify_jira(SECRET, header, body, NOW + timedelta(minutes=6))
    with pytest.raises(sig.Refused, match="missing"):
        sig.verify_jira(SECRET, None, body, NOW)


def test_zendesk_signature_is_base64_hmac_of_timestamp_then_body() -> None:
    body, stamp = b'{"ticket":{"id":1}}', "2026-11-30T12:00:00Z"
    expected = base64.b64encode(hmac.new(SECRET.encode(), stamp.encode() + body,
                                         hashlib.sha256).digest()).decode()
    assert sig.zendesk_signature(SECRET, stamp, body) == expected
    sig.verify_zendesk(SECRET, expected, stamp, body, NOW + timedelta(minutes=4))
    with pytest.raises(sig.Refused, match="stale"):
        sig.verify_zendesk(SECRET, expected, stamp, body, NOW - timedelta(minutes=6))
    with pytest.raises(sig.Refused, match="does not sign"):
        sig.verify_zendesk(SECRET, expected, "2026-11-30T12:00:01Z", body, NOW)
    with pytest.raises(sig.Refused, match="base64"):
        sig.verify_zendesk(SECRET, "%%%", stamp, body, NOW)


def test_servicenow_basic_auth_takes_the_inbound_secret_as_password() -> None:
    good = "Basic " + base64.b64encode(f"tierline:{SECRET}".encode()).decode()
    sig.verify_basic(SECRET, good)
    with pytest.raises(sig.Refused):
        sig.verify_basic(SECRET, "Basic " + base64.b64encode(b"tierline:nope").decode())
    with pytest.raises(sig.Refused):
        sig.verify_basic(SECRET, None)


def test_the_vault_seals_and_never_shows_values() -> None:
    vault = Vault(Fernet.generate_key().decode())
    token = vault.seal({"password": "hunter2-hunter2"})
    assert "hunter2" not in token and vault.open(token) == {"password": "hunter2-hunter2"}
    with pytest.raises(ValueError, match="desk_secrets_key"):
        Vault(Fernet.generate_key().decode()).open(token)
    assert redacted({"username": "u", "password": "p"}) == {"password": "***",
                                                            "username": "***"}


def test_the_placeholder_key_is_refused_in_production() -> None:
    placeholder = Settings().desk_secrets_key.get_secret_value()
    assert placeholder == DEV_DESK_SECRETS_KEY
    check_key(placeholder, "development", DEV_DESK_SECRETS_KEY)
    with pytest.raises(ValueError, match="placeholder"):
        check_key(placeholder, "production", DEV_DESK_SECRETS_KEY)
    with pytest.raises(ValueError, match="Fernet key"):
        check_key("short", "development", DEV_DESK_SECRETS_KEY)
    check_key(Fernet.generate_key().decode(), "production", DEV_DESK_SECRETS_KEY)


TARGET = {"external_id": "9d38", "user": "5137", "group": "287e", "table": "incident",
          "note": "Tierline assigned this to ana (ana)."}


def test_servicenow_write_is_one_patch_of_the_table_api() -> None:
    [step] = write_steps("servicenow", TARGET)
    assert (step.method, step.path) == ("PATCH", "/api/now/table/incident/9d38")
    assert step.json == {"assigned_to": "5137", "assignment_group": "287e",
                         "work_notes": TARGET["note"]}
    assert servicenow_table("service_request") == "sc_req_item"
    assert read_step("servicenow", TARGET).path.startswith("/api/now/table/incident/9d38?")
    assert current_assignee("servicenow", {"result": {"assigned_to": "5137"}}) == "5137"
    assert current_assignee("servicenow", {"result": {"assigned_to": {"value": "x"}}}) == "x"
    assert current_assignee("servicenow", {"result": {"assigned_to": ""}}) is None


def test_jira_write_assigns_then_comments_internally() -> None:
    assign, comment = write_steps("jira", {**TARGET, "external_id": "10042", "group": None})
    assert (assign.method, assign.path, assign.json) == (
        "PUT", "/rest/api/3/issue/10042/assignee", {"accountId": "5137"})
    assert (comment.method, comment.path) == ("POST", "/rest/api/3/issue/10042/comment")
    assert comment.json is not None
    assert comment.json["properties"] == [{"key": "sd.public.comment",
                                           "value": {"internal": True}}]
    assert comment.json["body"]["type"] == "doc"
    assert current_assignee("jira", {"fields": {"assignee": None}}) is None


def test_zendesk_write_is_one_put_with_a_private_comment() -> None:
    [step] = write_steps("zendesk", {**TARGET, "external_id": "35436", "user": "20978392",
                                     "group": "360000123"})
    assert (step.method, step.path) == ("PUT", "/api/v2/tickets/35436")
    assert step.json == {"ticket": {"assignee_id": 20978392, "group_id": 360000123,
                                    "comment": {"body": TARGET["note"], "public": False}}}
    assert current_assignee("zendesk", {"ticket": {"assignee_id": 20978392}}) == "20978392"


def test_authorization_per_desk() -> None:
    def basic(user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    assert authorization("zendesk", "api_token", {"email": "a@b.c", "api_token": "t"}) == \
        basic("a@b.c/token", "t")
    assert authorization("jira", "basic", {"email": "a@b.c", "api_token": "t"}) == \
        basic("a@b.c", "t")
    assert authorization("servicenow", "basic", {"username": "u", "password": "p"}) == \
        basic("u", "p")
    assert authorization("servicenow", "bearer", {"token": "tok"}) == "Bearer tok"


def test_the_note_carries_the_reasons() -> None:
    note = note_text("Ana", "ana", {"rule": "network-l1", "chosen": "ana", "trigger": "new",
                                    "candidates": ["ana", "ben"]})
    assert note == "Tierline assigned this to Ana (ana) - chosen: ana; rule: network-l1 [new]."


def test_backoff_with_jitter_and_retry_after() -> None:
    rnd = random.Random(7)
    delays = [policy.retry_delay(n, 2.0, rnd) for n in (1, 2, 3)]
    for n, delay in enumerate(delays, start=1):
        full = timedelta(seconds=2.0 * 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert policy.retry_delay(40, 2.0, rnd) <= policy.MAX_DELAY
    assert policy.retry_after("7", NOW) == timedelta(seconds=7)
    assert policy.retry_after("Mon, 30 Nov 2026 12:00:30 GMT", NOW) == timedelta(seconds=30)
    assert policy.retry_after(None, NOW) == policy.DEFAULT_RETRY_AFTER


def test_the_circuit_opens_after_failures_in_a_row_and_backs_off() -> None:
    assert policy.cool_down(policy.CIRCUIT_THRESHOLD - 1, 1.0) is None
    first = policy.cool_down(policy.CIRCUIT_THRESHOLD, 1.0)
    second = policy.cool_down(policy.CIRCUIT_THRESHOLD + 1, 1.0)
    assert first is not None and second == first * 2
    assert policy.cool_down(100, 1.0) == policy.MAX_COOL_DOWN
    assert policy.half_open(policy.CIRCUIT_THRESHOLD) and not policy.half_open(0)
    assert policy.after_attempt(3, 3, False) == "dead"
    assert policy.after_attempt(2, 3, False) == "pending"


def test_desk_notes_and_comments_are_read_from_each_payload() -> None:
    from tierline_intake.desks.follow import Note, notes_in

    assert notes_in("servicenow", {"result": {
        "sys_updated_by": "beth.anglin", "work_notes": "Rebooted the mail relay",
        "comments": "We are on it", "state": "2"}}) == [
        Note("beth.anglin", "Rebooted the mail relay", False),
        Note("beth.anglin", "We are on it", True)]
    jira = {"webhookEvent": "comment_created", "comment": {
        "author": {"accountId": "acc-1"}, "jsdPublic": False, "body": {
            "type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
                {"type": "text", "text": "Checked the VPN logs"}]}]}}}
    assert notes_in("jira", jira) == [Note("acc-1", "Checked the VPN logs", False)]
    zendesk = {"type": "zen:event-type:ticket.comment_added", "event": {"comment": {
        "body": "Replaced the toner", "is_public": True, "author": {"id": "7001"}}}}
    assert notes_in("zendesk", zendesk) == [Note("7001", "Replaced the toner", True)]
    # Tierline's own write-back note coming back is not taken in again
    assert notes_in("servicenow", {"work_notes": "Tierline assigned this to Ana (ana)."}) == []
    assert notes_in("zendesk", {"ticket": {"id": 1}}) == []


def test_a_paused_connection_takes_one_write_back_at_a_time_until_one_succeeds() -> None:
    assert policy.half_open(0, NOW) and not policy.half_open(0, None)
