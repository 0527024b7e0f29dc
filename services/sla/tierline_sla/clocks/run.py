"""The SLA clocks of one run of ticket events, held in memory while the run is applied: read
with one statement at the start, written with one statement per table at the end.

Applying a clock event one at a time took five or six round trips (read the clock's events,
read its profile, append the event, store the re-folded clock, drop its unfired timers, arm
new ones), for each clock an event moves, so a status change cost up to twenty. Here every
clock of the run's tickets is read once (their events, in order, with the profile), each
event is appended and re-folded in memory exactly as before, and the end of the run writes
the new clock events, the clocks started (inserted) and moved (updated), and the timers of
each clock as its last re-fold armed them. The tables end the same as applying the events
one at a time: a clock's unfired timers are those of its last re-fold either way, a
threshold that already fired never fires again (``timers_once``), and new rows go in the
order they were made.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.sla_policy import DEFAULT_PROFILE, SlaPolicy
from tierline_sla.clocks.domain import ClockEvent, ClockState, Kind, fold, threshold_due
from tierline_sla.escalations.domain import EscalationPolicy
from tierline_sla.models import clock_events, clocks, timers

Key = tuple[UUID, str]  # (ticket, clock)

_STATE = ("priority", "status", "due_at", "target_seconds", "elapsed_seconds", "stopped_at",
          "cycle")


def thresholds(sla: SlaPolicy, escalation: EscalationPolicy, clock: str,
               profile: str) -> list[int]:
    """Every percentage of a clock's target that arms a timer: the profile's warnings, the
    breach at 100, the escalation rules' thresholds and, on resolution, the major-incident
    breach-imminent share."""
    found = set(sla.warnings_for(profile)) | {100} | escalation.thresholds(clock)
    if clock == "resolution":
        found.add(escalation.major_incidents.breach_imminent_percent)
    return sorted(found)


@dataclass
class _Clock:
    events: list[ClockEvent] = field(default_factory=list)  # in time order, as stored
    started_at: datetime | None = None  # set when the clock starts in this run
    state: ClockState | None = None  # the last re-fold, to store


class ClockRun:
    """The clocks of a run's tickets; :meth:`load` them, :meth:`apply` events, :meth:`write`
    once at the end of the run (before its transaction commits)."""

    def __init__(self, session: AsyncSession, sla: SlaPolicy,
                 escalation: EscalationPolicy) -> None:
        self._session = session
        self._sla = sla
        self._escalation = escalation
        self._clocks: dict[Key, _Clock] = {}
        self._profiles: dict[UUID, str] = {}
        self._loaded: set[UUID] = set()
        self._new_events: list[dict[str, Any]] = []
        self._armed: dict[Key, list[dict[str, Any]]] = {}  # in the order last armed

    async def load(self, ticket_ids: Iterable[UUID]) -> None:
        """Read the clocks of ``ticket_ids`` not read yet, with their events, in one
        statement."""
        wanted = set(ticket_ids) - self._loaded
        if not wanted:
            return
        self._loaded |= wanted
        e = clock_events.c
        rows = (await self._session.execute(
            select(clocks.c.ticket_id, clocks.c.clock, clocks.c.profile, e.at, e.kind,
                   e.priority)
            .select_from(clocks.outerjoin(clock_events, (e.ticket_id == clocks.c.ticket_id)
                                          & (e.clock == clocks.c.clock)))
            .where(clocks.c.ticket_id.in_(wanted))
            .order_by(clocks.c.ticket_id, clocks.c.clock, e.at, e.id))).all()
        for ticket_id, clock, profile, at, kind, priority in rows:
            self._profiles.setdefault(ticket_id, profile)
            held = self._clocks.setdefault((ticket_id, clock), _Clock())
            if at is not None:
                held.events.append(ClockEvent(at, kind, priority))
        # The unfired timers the run may replace, locked now, before the run touches any
        # ticket row: the timer job locks timers (skipping locked ones) and then their
        # tickets, so a run that took tickets first and timers at its end deadlocked with it.
        await self._session.execute(
            select(timers.c.id).where(timers.c.ticket_id.in_(wanted), timers.c.fired_at.is_(None))
            .order_by(timers.c.id).with_for_update())

    def profile(self, ticket_id: UUID) -> str:
        """The SLA profile the ticket's clocks run on (the default if none started)."""
        self._require(ticket_id)
        return self._profiles.get(ticket_id, DEFAULT_PROFILE)

    def apply(self, ticket_id: UUID, clock: str, kind: Kind, at: datetime,
              priority: str | None = None, profile: str | None = None) -> ClockState | None:
        """Append a clock event and re-fold the clock; None if the clock never started (or
        a start came twice)."""
        self._require(ticket_id)
        key = (ticket_id, clock)
        held = self._clocks.get(key)
        events = held.events if held is not None else []
        if not events and kind != "start":
            return None
        if events and kind == "start":
            return None  # already started: a duplicate
        if profile is None:
            profile = self.profile(ticket_id)
        event = ClockEvent(at, kind, priority)
        state = fold(self._sla, clock, [*events, event], profile=profile)
        if held is None:
            held = self._clocks[key] = _Clock()
        if not held.events:
            held.started_at = at
            self._profiles.setdefault(ticket_id, profile)
        held.events.append(event)  # fold orders them by time, then as they came
        held.state = state
        self._new_events.append({"ticket_id": ticket_id, "clock": clock, "at": at,
                                 "kind": kind, "priority": priority})
        self._arm(ticket_id, state)
        return state

    def _arm(self, ticket_id: UUID, state: ClockState) -> None:
        """The clock's timers for its state now; they replace its unfired ones."""
        rows = []
        for percent in thresholds(self._sla, self._escalation, state.clock, state.profile):
            due = threshold_due(self._sla, state, percent)
            if due is not None:
                rows.append({"ticket_id": ticket_id, "clock": state.clock, "cycle": state.cycle,
                             "threshold": percent, "target_seconds": state.target_seconds,
                             "priority": state.priority, "due_at": due})
        key = (ticket_id, state.clock)
        self._armed.pop(key, None)
        self._armed[key] = rows

    def _require(self, ticket_id: UUID) -> None:
        if ticket_id not in self._loaded:
            raise RuntimeError(f"the clocks of ticket {ticket_id} were not loaded for this run")

    async def write(self) -> None:
        """Store what the run changed: new clock events, started and moved clocks, and each
        moved clock's timers (its unfired ones dropped first)."""
        session = self._session
        if self._new_events:
            await session.execute(insert(clock_events), self._new_events)
        started, moved = [], []
        for (ticket_id, clock), held in self._clocks.items():
            if held.state is None:
                continue
            values = {name: getattr(held.state, name) for name in _STATE}
            if held.started_at is not None:
                started.append({"ticket_id": ticket_id, "clock": clock,
                                "started_at": held.started_at,
                                "profile": self._profiles[ticket_id], **values})
            else:
                moved.append({"b_ticket_id": ticket_id, "b_clock": clock, **values})
        if started:
            await session.execute(insert(clocks), started)
        if moved:
            await session.execute(
                update(clocks).where(clocks.c.ticket_id == bindparam("b_ticket_id"),
                                     clocks.c.clock == bindparam("b_clock"))
                .values({name: bindparam(name) for name in _STATE}), moved,
                execution_options={"synchronize_session": False})
        if self._armed:
            await session.execute(delete(timers).where(
                tuple_(timers.c.ticket_id, timers.c.clock).in_(list(self._armed)),
                timers.c.fired_at.is_(None)))
            rows = [row for armed in self._armed.values() for row in armed]
            if rows:
                await session.execute(pg_insert(timers).values(rows)
                                      .on_conflict_do_nothing(constraint="timers_once"))
        self._new_events, self._armed = [], {}
        for held in self._clocks.values():
            held.started_at, held.state = None, None
