from datetime import UTC, datetime
from uuid import uuid4

import pytest

from tierline_shared.bus.envelope import Envelope, InvalidMessage, decode
from tierline_shared.bus.events import TicketCreated

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def created() -> TicketCreated:
    return TicketCreated(ticket_id=uuid4(), ticket_type="incident", title="t", category="network",
                         priority="P3", impact="medium", urgency="medium", channel="chat",
                         requester_id="u1", created_at=NOW)


def test_round_trip_in_binary_content_mode() -> None:
    env = Envelope.wrap(created(), source="/tierline/intake", time=NOW)
    headers = dict(env.headers())
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"tierline.ticket.created.v1"
    assert headers["ce_subject"] == env.key
    back = decode(env.headers(), env.body())
    assert back == env


def test_missing_headers_are_named() -> None:
    env = Envelope.wrap(created(), source="/x", time=NOW)
    headers = [(k, v) for k, v in env.headers() if k not in ("ce_id", "ce_type")]
    with pytest.raises(InvalidMessage, match="ce_id, ce_type"):
        decode(headers, env.body())


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"ticket_id": "nope"}'])
def test_bad_bodies_are_invalid(body: bytes) -> None:
    env = Envelope.wrap(created(), source="/x", time=NOW)
    with pytest.raises(InvalidMessage, match="body does not match"):
        decode(env.headers(), body)


def test_subject_must_match_the_ticket() -> None:
    env = Envelope.wrap(created(), source="/x", time=NOW)
    headers = [(k, v if k != "ce_subject" else str(uuid4()).encode()) for k, v in env.headers()]
    with pytest.raises(InvalidMessage, match="ce_subject"):
        decode(headers, env.body())


def test_unknown_type_is_invalid() -> None:
    env = Envelope.wrap(created(), source="/x", time=NOW)
    headers = [(k, v if k != "ce_type" else b"tierline.nope.v9") for k, v in env.headers()]
    with pytest.raises(InvalidMessage, match="unknown ce_type"):
        decode(headers, env.body())
