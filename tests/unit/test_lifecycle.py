"""The lifecycle state machine: allowed and refused transitions; closing is never
unilateral."""

import pytest

from tierline_intake.tickets.lifecycle import (
    AGENT_TRANSITIONS,
    STATUSES,
    TransitionRefused,
    auto_close,
    can_answer_survey,
    can_request_reassignment,
    change_status,
    customer_reply,
)

ALLOWED = [(a, b) for a, targets in AGENT_TRANSITIONS.items() for b in targets]
REFUSED = [(a, b) for a in STATUSES for b in STATUSES
           if b not in AGENT_TRANSITIONS[a] and b != "closed"]


@pytest.mark.parametrize(("current", "requested"), ALLOWED)
def test_allowed_transitions(current: str, requested: str) -> None:
    move = change_status(current, requested)
    assert (move.from_status, move.to_status, move.auto) == (current, requested, False)


@pytest.mark.parametrize(("current", "requested"), REFUSED)
def test_refused_transitions_name_the_allowed_ones(current: str, requested: str) -> None:
    with pytest.raises(TransitionRefused) as refused:
        change_status(current, requested)
    assert refused.value.allowed == AGENT_TRANSITIONS[current]


@pytest.mark.parametrize("current", STATUSES)
def test_no_one_closes_a_ticket_by_status_change(current: str) -> None:
    with pytest.raises(TransitionRefused, match="customer's confirmation"):
        change_status(current, "closed")


def test_customer_confirmation_closes_and_rejection_reopens() -> None:
    closed = customer_reply("resolved", fixed=True)
    assert (closed.to_status, closed.closed_by) == ("closed", "customer_confirmation")
    assert customer_reply("resolved", fixed=False).to_status == "reopened"
    with pytest.raises(ValueError, match="fixed is required"):
        customer_reply("resolved", fixed=None)
    with pytest.raises(TransitionRefused):
        customer_reply("closed", fixed=False)


def test_a_customer_reply_hands_pending_work_back_and_is_otherwise_a_message() -> None:
    move = customer_reply("pending_customer", fixed=None)
    assert move is not None and move.to_status == "in_progress"
    assert customer_reply("in_progress", fixed=None) is None
    assert customer_reply("new", fixed=True) is None


def test_auto_close_only_from_resolved() -> None:
    move = auto_close("resolved")
    assert (move.to_status, move.auto, move.closed_by) == ("closed", True, "auto_close")
    with pytest.raises(TransitionRefused):
        auto_close("pending_customer")


def test_closed_is_final_and_reopened_work_can_resume() -> None:
    assert AGENT_TRANSITIONS["closed"] == ()
    assert change_status("reopened", "in_progress").to_status == "in_progress"


def test_surveys_and_reassignment_follow_the_status() -> None:
    assert can_answer_survey("resolved") and can_answer_survey("closed")
    assert not can_answer_survey("in_progress")
    assert can_request_reassignment("in_progress")
    assert not can_request_reassignment("closed")
