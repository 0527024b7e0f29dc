"""Where a ticket stands in routing as intake learns it (tickets/routing.py), without I/O:
each of router's facts moves it on, and a stale or repeated fact changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tierline_intake.tickets.routing import Routing, audit_action

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def offered(r: Routing, agent: str, attempt: int, s: float, tier: int = 1) -> Routing:
    out = r.offered(agent, tier, attempt, at(s), at(s + 120))
    assert out is not None
    return out


def test_an_accepted_offer_names_the_agent_who_holds_the_ticket() -> None:
    r = offered(Routing(), "ana", 1, 0, tier=2)
    assert (r.state, r.offered_agent, r.offered_tier, r.assigned_agent) == (
        "offered", "ana", 2, None)
    assert r.offer_expires_at == at(120)
    accepted = r.answered("ana", "accepted", at(30))
    assert accepted == Routing(state="accepted", assigned_agent="ana", assigned_tier=2,
                               attempt=1, at=at(30))


def test_a_declined_offer_then_queued_names_nobody() -> None:
    r = offered(Routing(), "ana", 1, 0)
    released = r.answered("ana", "declined", at(10))
    assert released == Routing(state="released", attempt=1, at=at(10))
    queued = released.queued(at(10))
    assert queued == Routing(state="queued", attempt=1, at=at(10))


def test_a_timed_out_offer_then_offered_to_another_names_the_new_agent() -> None:
    r = offered(Routing(), "ana", 1, 0)
    released = r.answered("ana", "timed_out", at(120))
    assert released is not None
    again = offered(released, "ben", 2, 120)
    assert (again.state, again.offered_agent, again.assigned_agent, again.attempt) == (
        "offered", "ben", None, 2)


@pytest.mark.parametrize("outcome", ["declined", "timed_out", "agent_unavailable",
                                     "withdrawn", "accepted"])
def test_an_answer_to_an_older_offer_does_not_overwrite_a_newer_one(outcome: str) -> None:
    r = offered(Routing(), "ana", 1, 0)
    r = r.answered("ana", "timed_out", at(120)) or r
    r = offered(r, "ben", 2, 120)
    assert r.answered("ana", outcome, at(120)) is None  # another agent's offer
    assert r.answered("ben", outcome, at(60)) is None  # older than the offer to ben
    # a late answer naming the same agent as a newer offer, older than that offer
    back = offered(r.answered("ben", "declined", at(130)) or r, "ana", 3, 200)
    assert back.answered("ana", outcome, at(120)) is None


def test_an_older_offer_or_queueing_does_not_overwrite_a_newer_fact() -> None:
    r = offered(Routing(), "ana", 1, 0)
    r = r.answered("ana", "declined", at(5)) or r
    r = offered(r, "ben", 2, 5)
    assert r.offered("ana", 1, 1, at(0), None) is None
    assert r.queued(at(4)) is None  # queued before the offer to ben
    assert r.queued(at(5)) is None  # router never queues a ticket it has just offered
    accepted = r.answered("ben", "accepted", at(6))
    assert accepted is not None and accepted.queued(at(6)) is None


def test_every_fact_repeated_changes_nothing() -> None:
    r = offered(Routing(), "ana", 1, 0)
    assert r.offered("ana", 1, 1, at(0), at(120)) is None
    accepted = r.answered("ana", "accepted", at(1))
    assert accepted is not None and accepted.answered("ana", "accepted", at(1)) is None
    released = accepted.answered("ana", "withdrawn", at(2))
    assert released is not None and released.answered("ana", "withdrawn", at(2)) is None
    queued = released.queued(at(2))
    assert queued is not None and queued.queued(at(2)) is None


def test_the_holder_letting_go_names_nobody() -> None:
    r = offered(Routing(), "ana", 1, 0, tier=3)
    accepted = r.answered("ana", "accepted", at(1))
    assert accepted is not None
    gone = accepted.answered("ana", "agent_unavailable", at(50))
    assert gone == Routing(state="released", attempt=1, at=at(50))


def test_a_queued_ticket_offered_later_then_queued_again() -> None:
    r = Routing().queued(at(0))
    assert r == Routing(state="queued", at=at(0))
    r = offered(r, "ana", 1, 60)
    r = r.answered("ana", "withdrawn", at(70)) or r
    requeued = r.queued(at(70))
    assert requeued is not None and requeued.state == "queued"


def test_a_ticket_from_before_the_outcome_was_known_is_settled_by_its_agents_answer() -> None:
    legacy = Routing(assigned_agent="ana", assigned_tier=2)
    assert legacy.answered("ana", "accepted", at(0)) == Routing(
        state="accepted", assigned_agent="ana", assigned_tier=2, at=at(0))
    assert legacy.answered("ana", "declined", at(0)) == Routing(state="released", at=at(0))
    assert legacy.answered("ben", "declined", at(0)) is None
    assert legacy.queued(at(0)) == Routing(state="queued", at=at(0))


def test_audit_actions() -> None:
    assert [audit_action("offered"), audit_action("queued"),
            audit_action("answered", "accepted"), audit_action("answered", "timed_out")] == [
        "offered", "queued", "assigned", "offer_timed_out"]


# Router's answers and queueings carry the offer's number: no clock is compared then, so
# replicas whose clocks disagree cannot make a newer fact look older.

def test_a_numbered_answer_counts_only_for_its_offer_whatever_its_time() -> None:
    r = offered(Routing(), "ana", 1, 10)
    skewed = r.answered("ana", "declined", at(5), attempt=1)  # a replica's clock behind
    assert skewed == Routing(state="released", attempt=1, at=at(10))
    r = offered(skewed, "ben", 2, 12)
    for agent, attempt in (("ana", 1), ("ben", 1), ("ben", 3)):
        assert r.answered(agent, "accepted", at(60), attempt=attempt) is None
        assert r.answered(agent, "declined", at(60), attempt=attempt) is None
    accepted = r.answered("ben", "accepted", at(11), attempt=2)
    assert accepted is not None and accepted.assigned_agent == "ben"
    assert accepted.answered("ben", "accepted", at(11), attempt=2) is None  # again


def test_a_numbered_queueing_counts_unless_a_newer_offer_is_known() -> None:
    r = offered(Routing(), "ana", 1, 10)
    released = r.answered("ana", "timed_out", at(130), attempt=1)
    assert released is not None
    queued = released.queued(at(129), attempt=1)  # at the same decision, a clock behind
    assert queued == Routing(state="queued", attempt=1, at=at(130))
    r = offered(queued, "ben", 2, 200)
    assert r.queued(at(300), attempt=1) is None  # from before the offer to ben
    # queued with no answer seen (router released the holder without one): still counts
    assert r.queued(at(200), attempt=2) == Routing(state="queued", attempt=2, at=at(200))
