"""Schedule adherence: the share of scheduled time an agent was in an adherent state
(available or busy). Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

ADHERENT = frozenset({"available", "busy"})


@dataclass(frozen=True)
class Adherence:
    agent_id: str
    scheduled_s: float
    adherent_s: float

    @property
    def ratio(self) -> float | None:
        return self.adherent_s / self.scheduled_s if self.scheduled_s else None


def adherence(agent_id: str, shifts: list[tuple[datetime, datetime]],
              presence: list[tuple[datetime, str]], until: datetime) -> Adherence:
    """``presence`` is the agent's changes in time order; before the first one the agent
    counts as offline. Time after ``until`` (now) is not judged yet."""
    timeline = sorted(presence)
    scheduled = adherent = 0.0
    for start, end in shifts:
        end = min(end, until)
        if end <= start:
            continue
        scheduled += (end - start).total_seconds()
        state, since = "offline", start
        for at, value in timeline:
            if at <= start:
                state = value
                continue
            if at >= end:
                break
            if state in ADHERENT:
                adherent += (at - since).total_seconds()
            state, since = value, at
        if state in ADHERENT:
            adherent += (end - since).total_seconds()
    return Adherence(agent_id, scheduled, adherent)
