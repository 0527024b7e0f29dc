"""SLA clocks as folds over their events, in virtual time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tierline_shared.settings import POLICY_DIR
from tierline_shared.sla_policy import load_sla_policy
from tierline_sla.clocks.domain import ClockEvent, fold

POLICY = load_sla_policy(POLICY_DIR)  # P1 and P2 on 24x7, P3-P5 on office hours
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_running_clock_due_after_its_target() -> None:
    state = fold(POLICY, "resolution", [ClockEvent(T0, "start", "P2")], now=at(60))
    assert state.status == "running" and state.elapsed_seconds == 3600
    assert state.due_at == at(480)


def test_pause_then_priority_change_keeps_paused_time_excluded() -> None:
    events = [ClockEvent(T0, "start", "P2"), ClockEvent(at(60), "pause"),
              ClockEvent(at(180), "priority", "P1"), ClockEvent(at(240), "resume")]
    state = fold(POLICY, "resolution", events, now=at(270))
    assert state.priority == "P1" and state.target_seconds == 240 * 60
    assert state.elapsed_seconds == 90 * 60  # 60 before the pause, 30 after the resume
    assert state.due_at == at(240 + 180)  # 180 minutes of the P1 target left at resume


def test_paused_clock_has_no_due_time_and_does_not_accrue() -> None:
    state = fold(POLICY, "resolution", [ClockEvent(T0, "start", "P2"),
                                        ClockEvent(at(30), "pause")], now=at(600))
    assert state.status == "paused" and state.elapsed_seconds == 1800 and state.due_at is None


def test_stop_met_or_breached_and_reopen_resumes() -> None:
    met = fold(POLICY, "first_response", [ClockEvent(T0, "start", "P2"),
                                          ClockEvent(at(20), "stop")])
    assert met.status == "met" and met.stopped_at == at(20)
    late = fold(POLICY, "first_response", [ClockEvent(T0, "start", "P2"),
                                           ClockEvent(at(45), "stop")])
    assert late.status == "breached"
    reopened = fold(POLICY, "resolution", [
        ClockEvent(T0, "start", "P2"), ClockEvent(at(100), "stop"),
        ClockEvent(at(1000), "reopen")], now=at(1030))
    assert reopened.status == "running" and reopened.elapsed_seconds == 130 * 60
    assert reopened.due_at == at(1000 + 380)


def test_office_hours_clock_over_a_weekend() -> None:
    friday = datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    state = fold(POLICY, "first_response", [ClockEvent(friday, "start", "P3")],
                 now=friday + timedelta(days=3))
    assert state.elapsed_seconds == (30 + 7 * 60) * 60  # Fri 30 min, Monday to 17:00
    assert state.due_at == datetime(2026, 11, 30, 10, 30, tzinfo=UTC)


def test_events_are_replayed_in_time_order_and_must_start() -> None:
    shuffled = [ClockEvent(at(60), "pause"), ClockEvent(T0, "start", "P2")]
    assert fold(POLICY, "resolution", shuffled).status == "paused"
    with pytest.raises(ValueError):
        fold(POLICY, "resolution", [ClockEvent(T0, "pause")])
