"""Verifying what the desks sign: pure.

- Jira Cloud webhooks registered with a secret send ``X-Hub-Signature: sha256=<hex>``, the
  HMAC-SHA256 of the raw body with the secret (the WebSub scheme). The body carries no
  signed time but its ``timestamp`` (epoch milliseconds), which must be recent.
- Zendesk webhooks send ``X-Zendesk-Webhook-Signature``: base64 of HMAC-SHA256 over the
  ``X-Zendesk-Webhook-Signature-Timestamp`` value followed directly by the raw body.
- ServiceNow (a REST message or business rule) sends HTTP basic auth; the password is the
  connection's inbound secret.

A signature is only as good as its freshness: a stale one is refused here, and a repeat of
a fresh one is refused by the caller, which remembers what it accepted (:func:`digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta

TOLERANCE = timedelta(minutes=5)
JIRA_HEADER = "X-Hub-Signature"
ZENDESK_HEADER = "X-Zendesk-Webhook-Signature"
ZENDESK_TIMESTAMP = "X-Zendesk-Webhook-Signature-Timestamp"


class Refused(Exception):
    """Why a signed request is refused (answered 401)."""


def _mac(secret: str, message: bytes) -> bytes:
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def jira_signature(secret: str, body: bytes) -> str:
    return "sha256=" + _mac(secret, body).hex()


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    return base64.b64encode(_mac(secret, timestamp.encode() + body)).decode()


def _fresh(when: datetime, now: datetime) -> None:
    if abs(now - when) > TOLERANCE:
        raise Refused(f"stale signature: signed at {when.isoformat()}, more than "
                      f"{int(TOLERANCE.total_seconds())} s from now")


def verify_jira(secret: str, header: str | None, body: bytes, now: datetime) -> None:
    if not header:
        raise Refused(f"missing {JIRA_HEADER}")
    if not hmac.compare_digest(jira_signature(secret, body), header.strip()):
        raise Refused(f"{JIRA_HEADER} does not sign this body with the connection's secret")
    try:
        millis = json.loads(body)["timestamp"]
        when = datetime.fromtimestamp(int(millis) / 1000, tz=now.tzinfo)
    except (ValueError, KeyError, TypeError):
        raise Refused("a signed Jira body must carry its timestamp (epoch ms)") from None
    _fresh(when, now)


def verify_zendesk(secret: str, header: str | None, timestamp: str | None, body: bytes,
                   now: datetime) -> None:
    if not header or not timestamp:
        raise Refused(f"missing {ZENDESK_HEADER} or {ZENDESK_TIMESTAMP}")
    try:
        given = base64.b64decode(header.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise Refused(f"{ZENDESK_HEADER} is not base64") from None
    if not hmac.compare_digest(_mac(secret, timestamp.encode() + body), given):
        raise Refused(f"{ZENDESK_HEADER} does not sign this timestamp and body with the "
                      "connection's secret")
    try:
        when = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Refused(f"{ZENDESK_TIMESTAMP} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise Refused(f"{ZENDESK_TIMESTAMP} has no time zone")
    _fresh(when, now)


def verify_basic(secret: str, header: str | None) -> None:
    if not header or not header.lower().startswith("basic "):
        raise Refused("missing basic Authorization")
    try:
        _, _, password = base64.b64decode(header[6:].strip()).decode().partition(":")
    except (binascii.Error, ValueError):
        raise Refused("Authorization is not basic auth") from None
    if not hmac.compare_digest(password.encode(), secret.encode()):
        raise Refused("wrong password for this connection")


def digest(*parts: str | bytes) -> str:
    """What a replay would repeat: the signature with what it signed."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()
