"""Webhook signatures and the retry schedule."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from tierline_intake.webhooks.domain import KIND_OF, after_attempt, retry_at, signature, verify

BODY = b'{"kind":"status"}'


def test_the_signature_is_hmac_sha256_over_timestamp_and_body() -> None:
    expected = hmac.new(b"s3cret-s3cret-16", b"1764000000." + BODY, hashlib.sha256).hexdigest()
    assert signature("s3cret-s3cret-16", 1764000000, BODY) == f"t=1764000000,v1={expected}"


def test_verify_accepts_its_own_and_refuses_tampering_replays_and_garbage() -> None:
    header = signature("k" * 16, 1000, BODY)
    assert verify("k" * 16, header, BODY, now=1010)
    assert not verify("k" * 16, header, BODY + b" ", now=1010)
    assert not verify("x" * 16, header, BODY, now=1010)
    assert not verify("k" * 16, header, BODY, now=1000 + 301)
    assert not verify("k" * 16, header.replace("t=1000", "t=1001"), BODY, now=1001)
    assert not verify("k" * 16, "nonsense", BODY, now=1000)
    assert not verify("k" * 16, "t=1000", BODY, now=1000)


def test_backoff_doubles_and_is_capped() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    assert [retry_at(n, 10, now) - now for n in (1, 2, 3, 4)] == [
        timedelta(seconds=s) for s in (10, 20, 40, 80)]
    assert retry_at(30, 10, now) - now == timedelta(hours=1)


def test_the_last_failed_try_is_dead() -> None:
    assert after_attempt(1, 3, ok=True) == "delivered"
    assert after_attempt(2, 3, ok=False) == "pending"
    assert after_attempt(3, 3, ok=False) == "dead"


def test_each_notified_event_has_one_kind() -> None:
    assert KIND_OF["tierline.ticket.assigned.v1"] == "assignment"
    assert KIND_OF["tierline.sla.breached.v1"] == "sla_breach"
    assert KIND_OF["tierline.major_incident.update_due.v1"] == "major_incident"
    assert "tierline.ticket.created.v1" not in KIND_OF
