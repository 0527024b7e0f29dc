"""Offer events for one agent's live feed, pure: what changed between two looks at their
open offers, as Server-Sent Events."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def changes(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
            ) -> list[tuple[str, dict[str, Any]]]:
    """``(event, data)`` for each offer that appeared (``offered``) or went away
    (``withdrawn``: accepted, declined, timed out or taken back), keyed by ticket id, in a
    stable order: withdrawals first, then new offers oldest first."""
    gone = [("withdrawn", {"ticket_id": tid}) for tid in sorted(before) if tid not in after]
    new = sorted((o for tid, o in after.items() if tid not in before),
                 key=lambda o: (str(o.get("assigned_at")), str(o["ticket_id"])))
    return [*gone, *(("offered", dict(o)) for o in new)]


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One Server-Sent Event, its data as one line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def by_ticket(offers: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(o["ticket_id"]): dict(o) for o in offers}
