import json
from datetime import UTC, datetime, timedelta

from tierline_router.routing.matcher import AgentView, Need, choose

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def agent(id: str, tier: int = 1, skills: dict[str, int] | None = None, **kw) -> AgentView:
    return AgentView(id=id, tier=tier, skills=skills or {"network": 3},
                     channels=kw.pop("channels", {"chat": 2, "email": 5}),
                     max_total=kw.pop("max_total", 6), presence=kw.pop("presence", "available"),
                     **kw)


NEED = Need(skills={"network": 1}, channel="chat")


def test_lowest_sufficient_tier_wins_over_better_skill() -> None:
    decision = choose(NEED, [agent("senior", tier=3, skills={"network": 5}), agent("junior")])
    assert decision.agent is not None and decision.agent.id == "junior"
    assert decision.passed_over["senior"] == "higher tier 3 than 1"


def test_full_channel_capacity_and_total_cap_exclude_with_reasons() -> None:
    busy_chat = agent("a", active_by_channel={"chat": 2})
    capped = agent("b", max_total=2, active_by_channel={"email": 2})
    free = agent("c", tier=2)
    decision = choose(NEED, [busy_chat, capped, free])
    assert decision.agent is not None and decision.agent.id == "c"
    assert decision.passed_over["a"] == "chat capacity 2 full"
    assert decision.passed_over["b"] == "total capacity 2 full"


def test_presence_skill_language_and_channel_are_required() -> None:
    need = Need(skills={"network": 1}, channel="chat", language="de")
    decision = choose(need, [
        agent("away", presence="away", languages=("de",)),
        agent("noskill", skills={"hardware": 5}, languages=("de",)),
        agent("nochat", channels={"email": 5}, languages=("de",)),
        agent("english"),
    ])
    assert decision.agent is None
    assert decision.passed_over == {
        "away": "presence is away",
        "noskill": "no skill 'network' or 'general'",
        "nochat": "does not work the chat channel",
        "english": "does not speak 'de'",
    }


def test_every_required_skill_level_must_be_met() -> None:
    need = Need(skills={"network": 3, "security": 2}, channel="chat", generalist_ok=False)
    decision = choose(need, [agent("low", skills={"network": 2, "security": 5}),
                             agent("half", skills={"network": 5}),
                             agent("both", tier=2, skills={"network": 3, "security": 2})])
    assert decision.agent is not None and decision.agent.id == "both"
    assert decision.passed_over["low"] == "skill 'network' level 2 below 3"
    assert decision.passed_over["half"] == "no skill 'security'"


def test_tier_bounds_and_declined_agents() -> None:
    need = Need(skills={"network": 1}, channel="chat", min_tier=2, max_tier=2,
                excluded=frozenset({"declined"}))
    decision = choose(need, [agent("t1"), agent("t3", tier=3), agent("declined", tier=2)])
    assert decision.agent is None
    assert decision.passed_over == {"t1": "tier 1 below required 2",
                                    "t3": "tier 3 above the rule's 2 (lowest sufficient tier)",
                                    "declined": "declined this ticket"}


def test_generalist_skill_counts_only_when_the_rule_allows() -> None:
    gen = agent("gen", skills={"general": 2})
    assert choose(NEED, [gen]).agent is not None
    strict = Need(skills={"network": 1}, channel="chat", generalist_ok=False)
    assert choose(strict, [gen]).passed_over == {"gen": "no skill 'network'"}


def test_best_skill_fit_then_least_loaded_then_idle_longest() -> None:
    expert = agent("expert", skills={"network": 5}, active_by_channel={"email": 4})
    decision = choose(NEED, [agent("plain"), expert])
    assert decision.agent is not None and decision.agent.id == "expert"
    loaded = agent("loaded", active_by_channel={"email": 3})
    recent = agent("recent", last_assigned_at=T0)
    idle = agent("idle", last_assigned_at=T0 - timedelta(hours=1))
    decision = choose(NEED, [loaded, recent, idle])
    assert decision.agent is not None and decision.agent.id == "idle"
    assert decision.passed_over["recent"] == "assigned more recently"
    assert decision.passed_over["loaded"].startswith("more loaded")


def test_fair_share_among_equals_stays_within_one_ticket() -> None:
    """Assign 23 tickets one by one to five equal agents with a cap of 5 each: nobody goes
    over the cap and the spread never exceeds one ticket."""
    load = {f"a{n}": 0 for n in range(5)}
    last: dict[str, datetime] = {}
    for n in range(23):
        team = [agent(a, channels={"chat": 5}, max_total=5, active_by_channel={"chat": c},
                      last_assigned_at=last.get(a)) for a, c in load.items()]
        decision = choose(NEED, team)
        assert decision.agent is not None
        load[decision.agent.id] += 1
        last[decision.agent.id] = T0 + timedelta(seconds=n)
        assert max(load.values()) - min(load.values()) <= 1
    assert max(load.values()) == 5
    team = [agent(a, channels={"chat": 5}, max_total=5, active_by_channel={"chat": c})
            for a, c in load.items()]
    for _ in range(2):
        decision = choose(NEED, team)
        assert decision.agent is not None
        load[decision.agent.id] += 1
        team = [agent(a, channels={"chat": 5}, max_total=5, active_by_channel={"chat": c})
                for a, c in load.items()]
    assert set(load.values()) == {5}
    assert choose(NEED, team).agent is None


def test_reasons_name_the_rule_and_every_candidate() -> None:
    decision = choose(NEED, [agent("b", last_assigned_at=T0), agent("a")])
    reasons = decision.reasons()
    assert reasons["chosen"] == "a" and reasons["considered"] == 2
    assert reasons["rule"] == "rule 'default': network>=1 on chat, tiers 1-3"
    assert reasons["alternatives"] == [{"agent": "b", "lost": "assigned more recently"}]
    assert reasons["passed_over"] == {"ranked_below": 1}


def test_reasons_stay_small_naming_three_runners_up_and_counting_the_rest() -> None:
    team = [agent(f"busy{n}", presence="away") for n in range(40)]
    team += [agent(f"full{n}", channels={"chat": 1}, active_by_channel={"chat": 1})
             for n in range(20)]
    team += [agent(f"r{n}", last_assigned_at=T0 + timedelta(minutes=n)) for n in range(4)]
    reasons = choose(NEED, team).reasons()
    assert reasons["chosen"] == "r0" and reasons["considered"] == 64
    # Runners-up who could have taken it come first, best ranked first.
    assert [a["agent"] for a in reasons["alternatives"]] == ["r1", "r2", "r3"]
    assert all(a["lost"] == "assigned more recently" for a in reasons["alternatives"])
    assert reasons["passed_over"] == {"channel_full": 20, "presence": 40, "ranked_below": 3}
    assert len(json.dumps(reasons)) < 1000


def test_when_nobody_can_take_it_the_alternatives_say_why_each_could_not() -> None:
    decision = choose(NEED, [agent("x", presence="away"),
                             agent("y", max_total=1, active_by_channel={"email": 1})])
    reasons = decision.reasons()
    assert reasons["chosen"] is None
    assert reasons["alternatives"] == [{"agent": "x", "lost": "presence is away"},
                                       {"agent": "y", "lost": "total capacity 1 full"}]
    assert reasons["passed_over"] == {"presence": 1, "total_full": 1}
