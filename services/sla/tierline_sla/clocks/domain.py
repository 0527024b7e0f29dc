"""An SLA clock as a fold over its events, so it can be recomputed exactly: paused time
stays excluded through priority changes, and a reopen resumes the clock. Pure."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from tierline_shared.sla_policy import DEFAULT_PROFILE, SlaPolicy

Kind = Literal["start", "pause", "resume", "stop", "reopen", "priority", "restart"]


@dataclass(frozen=True)
class ClockEvent:
    at: datetime
    kind: Kind
    priority: str | None = None  # for start and priority


@dataclass(frozen=True)
class ClockState:
    clock: str
    priority: str
    status: Literal["running", "paused", "met", "breached"]
    started_at: datetime
    target_seconds: int
    elapsed_seconds: float  # business time accrued while running, up to ``as_of``
    due_at: datetime | None  # when the target is reached if the clock keeps running
    stopped_at: datetime | None
    as_of: datetime
    running_since: datetime | None
    profile: str = DEFAULT_PROFILE
    cycle: int = 0  # how many times the clock restarted (the update clock, at each update)


def _target(policy: SlaPolicy, priority: str, clock: str, profile: str) -> int:
    return max(round(getattr(policy.target(priority, profile), clock) * 60), 1)


def _accrue(policy: SlaPolicy, state: ClockState, until: datetime) -> ClockState:
    if state.running_since is None or until <= state.running_since:
        return replace(state, as_of=max(until, state.as_of))
    calendar = policy.calendar_for(state.priority, state.profile)
    gained = calendar.business_seconds(state.running_since, until)
    return replace(state, elapsed_seconds=state.elapsed_seconds + gained, running_since=until,
                   as_of=until)


def _with_due(policy: SlaPolicy, state: ClockState) -> ClockState:
    if state.running_since is None:
        return replace(state, due_at=None)
    left = max(state.target_seconds - state.elapsed_seconds, 0.0)
    calendar = policy.calendar_for(state.priority, state.profile)
    return replace(state, due_at=calendar.add(state.running_since, left))


def fold(policy: SlaPolicy, clock: str, events: list[ClockEvent],
         now: datetime | None = None, profile: str = DEFAULT_PROFILE) -> ClockState:
    """Replay ``events`` (in time order, the first a start) and report as of ``now``, with
    the targets of ``profile``. A restart (the update clock, at each public update) begins
    a new cycle from zero; if it comes while paused, the new cycle starts paused."""
    ordered = sorted(events, key=lambda e: e.at)
    if not ordered or ordered[0].kind != "start" or ordered[0].priority is None:
        raise ValueError("a clock's first event must be a start with a priority")
    first = ordered[0]
    state = ClockState(clock, first.priority, "running", first.at,
                       _target(policy, first.priority, clock, profile), 0.0, None, None,
                       first.at, first.at, profile)
    for event in ordered[1:]:
        state = _accrue(policy, state, event.at)
        if event.kind == "pause" and state.status == "running":
            state = replace(state, status="paused", running_since=None)
        elif event.kind == "resume" and state.status == "paused":
            state = replace(state, status="running", running_since=event.at)
        elif event.kind == "priority" and event.priority is not None:
            state = replace(state, priority=event.priority,
                            target_seconds=_target(policy, event.priority, clock, profile))
        elif event.kind == "restart" and state.status in ("running", "paused"):
            paused = state.status == "paused"
            state = replace(state, elapsed_seconds=0.0, cycle=state.cycle + 1,
                            running_since=None if paused else event.at)
        elif event.kind == "stop" and state.status in ("running", "paused"):
            met = state.elapsed_seconds <= state.target_seconds
            state = replace(state, status="met" if met else "breached", running_since=None,
                            stopped_at=event.at)
        elif event.kind == "reopen" and state.status in ("met", "breached"):
            state = replace(state, status="running", running_since=event.at, stopped_at=None)
    state = _with_due(policy, state)  # from the events alone, so an overdue clock keeps it
    if now is not None:
        state = _accrue(policy, state, now)
    return state


def threshold_due(policy: SlaPolicy, state: ClockState, percent: int) -> datetime | None:
    """When a clock reaches ``percent`` of its target if it keeps running (at once if it is
    already past it); None while it is not running. ``state`` is folded from the events
    alone, so ``running_since`` is the last event that set it running."""
    if state.status != "running" or state.running_since is None:
        return None
    left = state.target_seconds * percent / 100 - state.elapsed_seconds
    calendar = policy.calendar_for(state.priority, state.profile)
    return calendar.add(state.running_since, max(left, 0.0))
