"""The ticket lifecycle as a pure state machine.

Agents move a ticket through acknowledged, in_progress and pending_customer to resolved.
Closing is never unilateral: a resolved ticket closes only when the customer confirms the
fix, or when the customer has not replied within the auto-close period. A customer who
says it is not fixed reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUSES = ("new", "acknowledged", "in_progress", "pending_customer", "resolved", "closed",
            "reopened")
WORKING = ("acknowledged", "in_progress", "pending_customer", "resolved")

# Transitions an agent (or an integration acting for one) may make with a status change.
AGENT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": WORKING,
    "acknowledged": ("in_progress", "pending_customer", "resolved"),
    "in_progress": ("pending_customer", "resolved"),
    "pending_customer": ("in_progress", "resolved"),
    "reopened": WORKING,
    "resolved": ("reopened",),
    "closed": (),
}


class TransitionRefused(Exception):
    def __init__(self, current: str, requested: str, allowed: tuple[str, ...], why: str) -> None:
        super().__init__(why)
        self.current = current
        self.requested = requested
        self.allowed = allowed
        self.why = why


@dataclass(frozen=True)
class Transition:
    from_status: str
    to_status: str
    auto: bool = False
    closed_by: str | None = None  # customer_confirmation or auto_close


def change_status(current: str, requested: str) -> Transition:
    allowed = AGENT_TRANSITIONS[current]
    if requested == "closed":
        raise TransitionRefused(current, requested, allowed,
                                "a ticket closes only on the customer's confirmation or "
                                "automatically when the customer does not reply")
    if requested not in allowed:
        raise TransitionRefused(current, requested, allowed,
                                f"{current} cannot go to {requested}")
    return Transition(current, requested)


def customer_reply(current: str, fixed: bool | None) -> Transition | None:
    """What a customer's message does: on a resolved ticket it confirms (closes) or rejects
    (reopens) the resolution; on a ticket pending the customer it hands the work back
    (in_progress, which resumes the SLA clock); otherwise it is only a message."""
    if current == "resolved":
        if fixed is None:
            raise ValueError("fixed is required on a resolved ticket: true confirms the "
                             "resolution, false reopens it")
        if fixed:
            return Transition(current, "closed", closed_by="customer_confirmation")
        return Transition(current, "reopened")
    if current == "closed":
        raise TransitionRefused(current, "reopened", AGENT_TRANSITIONS[current],
                                "a closed ticket takes no more replies; log a new ticket")
    if current == "pending_customer":
        return Transition(current, "in_progress")
    return None


def auto_close(current: str) -> Transition:
    if current != "resolved":
        raise TransitionRefused(current, "closed", AGENT_TRANSITIONS[current],
                                "only a resolved ticket closes automatically")
    return Transition(current, "closed", auto=True, closed_by="auto_close")


def can_answer_survey(current: str) -> bool:
    return current in ("resolved", "closed")


def can_request_reassignment(current: str) -> bool:
    return current not in ("resolved", "closed")


def follow_external(current: str, target: str) -> list[Transition]:
    """The moves that bring a ticket to the status its external system (ServiceNow, Jira,
    Zendesk) reports. That system runs its own closure rules, so a close it reports is
    followed (through resolved if need be); ``new`` on a ticket already worked means the
    ball is back with the agents (a ticket pending the customer goes back in progress)."""
    if target == current:
        return []
    if current == "closed":
        raise TransitionRefused(current, target, (), "the ticket is closed in Tierline")
    if target == "new":
        return [Transition(current, "in_progress")] if current == "pending_customer" else []
    moves: list[Transition] = []
    if current == "resolved" and target != "closed":
        moves.append(Transition(current, "reopened"))
        current = "reopened"
        if target == "reopened":
            return moves
    if target == "closed":
        if current != "resolved":
            moves.append(change_status(current, "resolved"))
        return [*moves, Transition("resolved", "closed")]
    return [*moves, change_status(current, target)]
