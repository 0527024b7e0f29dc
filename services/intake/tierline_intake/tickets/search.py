"""Ticket search's keyset cursor, pure: the last row's (created_at, id), newest first, as
an opaque URL-safe token. No I/O."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID


class BadCursor(ValueError):
    """The cursor was not made by :func:`encode`."""


def encode(created_at: datetime, ticket_id: UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(ticket_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, tid = json.loads(raw)
        when = datetime.fromisoformat(at)
        if when.tzinfo is None:
            raise ValueError("no time zone")
        return when, UUID(tid)
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise BadCursor("not a cursor from a previous page's next_cursor") from exc
