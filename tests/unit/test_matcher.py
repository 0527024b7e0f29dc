from datetime import UTC, datetime, timedelta

from tierline_router.matcher import AgentView, Need, choose

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def agent(id: str, tier: int = 1, skills: dict[str, int] | None = None, **kw) -> AgentView:
    return AgentView(id=id, tier=tier, skills=skills or {"network": 3},
                     channels=kw.pop("channels", {"chat": 2, "email": 5}),
                     max_total=kw.pop("max_total", 6), presence=kw.pop("presence", "available"),
                     **kw)


NEED = Need(category="network", channel="chat")


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


def test_presence_skill_and_channel_are_required() -> None:
    decision = choose(NEED, [
        agent("away", presence="away"),
        agent("noskill", skills={"hardware": 5}),
        agent("nochat", channels={"email": 5}),
    ])
    assert decision.agent is None
    assert decision.passed_over == {
        "away": "presence is away",
        "noskill": "no skill 'network' or 'general'",
        "nochat": "does not work the chat channel",
    }


def test_generalist_skill_counts() -> None:
    decision = choose(NEED, [agent("gen", skills={"general": 2})])
    assert decision.agent is not None and decision.agent.id == "gen"


def test_least_loaded_then_idle_longest() -> None:
    loaded = agent("loaded", active_by_channel={"email": 3})
    recent = agent("recent", last_assigned_at=T0)
    idle = agent("idle", last_assigned_at=T0 - timedelta(hours=1))
    decision = choose(NEED, [loaded, recent, idle])
    assert decision.agent is not None and decision.agent.id == "idle"
    assert decision.passed_over["recent"] == "assigned more recently"
    assert decision.passed_over["loaded"].startswith("more loaded")


def test_never_assigned_agent_counts_as_idle_longest() -> None:
    decision = choose(NEED, [agent("b", last_assigned_at=T0), agent("a")])
    assert decision.agent is not None and decision.agent.id == "a"
    assert decision.reasons()["considered"] == ["b", "a"]
