"""Outbound webhooks: which events each subscription kind carries, the signature, the retry
schedule. Pure.

Every delivery is signed like this: ``X-Tierline-Signature: t=<unix seconds>,v1=<hex>``
where the hex is HMAC-SHA256 with the subscription's secret over ``"<t>." + body``. A
receiver recomputes it, compares in constant time and refuses a timestamp too far from its
clock (replays).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

KINDS: dict[str, tuple[str, ...]] = {
    "assignment": ("tierline.ticket.assigned.v1",),
    "status": ("tierline.ticket.status_changed.v1",),
    "sla_warning": ("tierline.sla.warning.v1",),
    "sla_breach": ("tierline.sla.breached.v1",),
    "escalation": ("tierline.ticket.escalated.v1",),
    "survey_requested": ("tierline.ticket.survey_requested.v1",),
    "major_incident": ("tierline.major_incident.declared.v1",
                       "tierline.major_incident.ticket_linked.v1",
                       "tierline.major_incident.update_due.v1",
                       "tierline.major_incident.changed.v1"),
}
KIND_OF: dict[str, str] = {event: kind for kind, events in KINDS.items() for event in events}

SIGNATURE_HEADER = "X-Tierline-Signature"
TOLERANCE_S = 300
MAX_DELAY = timedelta(hours=1)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int,
           tolerance_s: int = TOLERANCE_S) -> bool:
    """True when ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of now."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def retry_at(attempts: int, base_s: float, now: datetime) -> datetime:
    """When to try again after ``attempts`` failed tries: base, 2 x base, 4 x base...
    (exponential backoff, at most an hour)."""
    return now + min(timedelta(seconds=base_s * 2 ** (attempts - 1)), MAX_DELAY)


def after_attempt(attempts: int, max_attempts: int, ok: bool) -> str:
    """The delivery's status after its ``attempts``-th try."""
    if ok:
        return "delivered"
    return "dead" if attempts >= max_attempts else "pending"
