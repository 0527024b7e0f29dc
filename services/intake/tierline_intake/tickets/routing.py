"""Where a ticket stands in routing, as intake learns it from router's events: offered to an
agent (waiting for their answer), accepted (the agent holds it), queued (nobody can take it
now) or released (the holder or offered agent let it go and nothing newer is known yet).

Pure: each fact of router's (an offer, an answer, a queueing) is applied to the ticket's
current standing and gives the new one, or None when it changes nothing. None covers the
duplicates (the same fact again) and the stale facts: an answer to an older offer, a
queueing older than what is known. Router's events of one ticket share a topic and a key,
so they normally arrive in order; these guards keep a redelivery or a late copy from
undoing a newer fact. Router numbers every offer of a ticket (``attempt``), and its
answers and queueings carry that number too: an answer counts only for the offer it names,
a queueing only if no newer offer is known. Events from before router sent the number on
answers and queueings are ordered by their event time and the agent they name instead
(replicas' clocks must then agree to within the time between two decisions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

State = Literal["offered", "accepted", "queued", "released"]
NEGATIVE = ("declined", "timed_out", "agent_unavailable", "withdrawn")
HOLDING: tuple[State, ...] = ("offered", "accepted")


@dataclass(frozen=True)
class Routing:
    """A ticket's routing fields. ``assigned_*`` names the agent who holds the ticket (they
    accepted it), ``offered_*`` the agent an open offer waits on; at most one is set.
    ``attempt`` is the latest offer applied, ``at`` the event time of the latest fact.
    ``state`` None with an ``assigned_agent`` is a ticket from before intake learnt the
    outcome: that agent was offered the ticket, whether they took it is not known."""

    state: State | None = None
    offered_agent: str | None = None
    offered_tier: int | None = None
    offer_expires_at: datetime | None = None
    assigned_agent: str | None = None
    assigned_tier: int | None = None
    attempt: int = 0
    at: datetime | None = None

    def offered(self, agent: str, tier: int, attempt: int, at: datetime,
                expires_at: datetime | None) -> Routing | None:
        """Router offered the ticket: nobody else holds it now (router offers only a ticket
        nobody holds), and the offer waits on ``agent``."""
        if attempt <= self.attempt:
            return None
        return Routing(state="offered", offered_agent=agent, offered_tier=tier,
                       offer_expires_at=expires_at, attempt=attempt, at=_later(self.at, at))

    def answered(self, agent: str, outcome: str, at: datetime,
                 attempt: int | None = None) -> Routing | None:
        """The offered agent (or the holder) answered offer ``attempt``: accepted, or let
        it go."""
        if attempt is not None and self.state is not None:
            if attempt != self.attempt:
                return None
        elif self.at is not None and at < self.at:
            return None
        if outcome == "accepted":
            if self.state == "offered" and self.offered_agent == agent:
                return replace(self, state="accepted", assigned_agent=agent,
                               assigned_tier=self.offered_tier, offered_agent=None,
                               offered_tier=None, offer_expires_at=None,
                               at=_later(self.at, at))
            if self.state is None and self.assigned_agent == agent:
                return replace(self, state="accepted", at=_later(self.at, at))
            return None
        if outcome not in NEGATIVE:
            return None
        if self.state == "offered" and self.offered_agent == agent:
            return self._released(at)
        if self.state in ("accepted", None) and self.assigned_agent == agent:
            return self._released(at)
        return None

    def queued(self, at: datetime, attempt: int | None = None) -> Routing | None:
        """The ticket waits in router's queue after ``attempt`` offers; router queues only a
        ticket nobody holds, so without the number, at the same instant as an offer or an
        acceptance the queueing is the older fact."""
        if self.state == "queued":
            return None
        if attempt is not None:
            if attempt < self.attempt:
                return None
        elif self.at is not None and (
                at < self.at or (at == self.at and self.state in HOLDING)):
            return None
        return Routing(state="queued", attempt=max(self.attempt, attempt or 0),
                       at=_later(self.at, at))

    def _released(self, at: datetime) -> Routing:
        return Routing(state="released", attempt=self.attempt, at=_later(self.at, at))


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


def audit_action(fact: str, outcome: str | None = None) -> str:
    """The audit entry's action for a routing fact: ``offered``, ``assigned`` (accepted),
    ``queued``, or ``offer_<outcome>`` for an offer or a holding let go."""
    if fact == "answered":
        return "assigned" if outcome == "accepted" else f"offer_{outcome}"
    return fact
