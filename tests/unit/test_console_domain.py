"""The console's pure parts: keys bound to an agent, the offer feed's events, the capacity
rule a force-assign may override."""

from __future__ import annotations

import json

import pytest

from tierline_router.console.offer_feed import by_ticket, changes, sse
from tierline_router.routing.matcher import AgentView
from tierline_router.work.force import capacity_refusal
from tierline_shared.auth.deps import Principal, check_agent, not_this_agent
from tierline_shared.auth.keys import acts_for, validate_agent


def test_a_bound_key_acts_for_its_agent_only_an_unbound_key_for_anyone() -> None:
    assert acts_for("ana", "ana") and not acts_for("ana", "ben")
    assert acts_for(None, "ana") and acts_for(None, "ben")
    ana = Principal("0" * 12, "ana", frozenset({"agents:write"}), agent_id="ana")
    assert not_this_agent(ana, "ana") is None
    refused = not_this_agent(ana, "ben")
    assert refused is not None and refused.status_code == 403
    assert refused.detail == {"error": "forbidden", "agent_id": "ben",
                              "detail": "this key acts only for agent ana"}
    with pytest.raises(Exception) as caught:
        check_agent(ana, "ben")
    assert getattr(caught.value, "status_code", None) == 403
    check_agent(Principal("1" * 12, "ops", frozenset({"admin"})), "ben")


@pytest.mark.parametrize("bad", ["", "a b", "x" * 65, "ana/..", "ünï"])
def test_an_agent_id_on_a_key_is_checked(bad: str) -> None:
    with pytest.raises(ValueError, match="agent id"):
        validate_agent(bad)
    assert validate_agent("agent-7.b_c") == "agent-7.b_c" and validate_agent(None) is None


def _offer(tid: str, at: str) -> dict[str, str]:
    return {"ticket_id": tid, "assigned_at": at, "status": "offered"}


def test_the_feed_reports_new_offers_oldest_first_and_withdrawals() -> None:
    before = by_ticket([_offer("a", "2026-11-30T10:00:00"), _offer("b", "2026-11-30T10:01:00")])
    after = by_ticket([_offer("b", "2026-11-30T10:01:00"), _offer("d", "2026-11-30T10:03:00"),
                       _offer("c", "2026-11-30T10:02:00")])
    assert changes(before, after) == [
        ("withdrawn", {"ticket_id": "a"}),
        ("offered", _offer("c", "2026-11-30T10:02:00")),
        ("offered", _offer("d", "2026-11-30T10:03:00"))]
    assert changes(after, after) == []
    assert [e for e, _ in changes({}, after)] == ["offered"] * 3


def test_an_event_is_one_json_line_with_its_name_and_id() -> None:
    text = sse("offered", {"ticket_id": "a", "reasons": {"rule": "network"}}, 7)
    lines = text.split("\n")
    assert lines[:2] == ["id: 7", "event: offered"] and text.endswith("\n\n")
    assert json.loads(lines[2].removeprefix("data: ")) == {
        "ticket_id": "a", "reasons": {"rule": "network"}}
    assert sse("withdrawn", {}).startswith("event: withdrawn\n")


def _agent(**load: int) -> AgentView:
    return AgentView(id="ana", tier=1, skills={"network": 3}, channels={"portal": 2, "chat": 1},
                     max_total=2, presence="available", languages=("en",), team=None,
                     active_by_channel=load, last_assigned_at=None)


def test_capacity_refusal_names_the_rule_a_force_assign_would_override() -> None:
    assert capacity_refusal(_agent(), "portal") is None
    assert capacity_refusal(_agent(), "email") == "ana does not work the email channel"
    assert capacity_refusal(_agent(chat=1), "chat") == "ana is at their chat capacity (1)"
    assert capacity_refusal(_agent(portal=1, chat=1), "portal") == \
        "ana is at their total capacity (2)"
    assert capacity_refusal(_agent(portal=1), "portal") is None
