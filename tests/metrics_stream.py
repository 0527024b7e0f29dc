"""A seeded, messy stream of every event metrics folds: tickets created, queued, assigned,
answered, worked, resolved, reopened and closed; surveys; SLA clocks, warnings and breaches;
escalations; major incidents declared, linked, changed and chased; problems; presence. Events
of one ticket keep their order; tickets interleave; some events arrive before the ticket's
creation, as topics are not ordered against each other."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketOfferAnswered,
    TicketPriorityChanged,
    TicketQueued,
    TicketStatusChanged,
)

START = datetime(2026, 11, 2, 8, tzinfo=UTC)
AGENTS = [f"agent-{n}" for n in range(12)]
CATEGORIES = ["network", "software", "hardware", "access"]


def _ticket_story(rng: random.Random, tid: uuid.UUID, t: datetime) -> list[Event]:
    priority = rng.choice(["P1", "P2", "P3", "P4"])
    category = rng.choice(CATEGORIES)
    channel = rng.choice(["chat", "email", "phone", "portal"])
    kind = rng.choice(["incident", "service_request"])
    common = {"ticket_id": tid}
    out: list[Event] = [TicketCreated(
        **common, ticket_type=kind, title=f"ticket {tid.hex[:6]}", category=category,
        priority=priority, impact="medium", urgency="medium", channel=channel,
        requester_id=f"user-{rng.randrange(40)}", deflected=rng.random() < 0.05,
        created_at=t)]
    for clock in ("first_response", "resolution"):
        out.append(SlaClockStarted(**common, clock=clock, priority=priority, started_at=t,
                                   due_at=t + timedelta(hours=rng.choice([1, 4, 8])),
                                   target_seconds=3600))
    if rng.random() < 0.3:
        out.append(TicketQueued(**common, priority=priority, category=category,
                                queued_at=t + timedelta(seconds=5), reason="nobody free"))
    agent = rng.choice(AGENTS)
    at = t + timedelta(minutes=rng.randrange(1, 30))
    out.append(TicketAssigned(**common, agent_id=agent, agent_tier=rng.choice([1, 2]),
                              priority=priority, category=category, channel=channel,
                              assigned_at=at))
    if rng.random() < 0.2:
        out.append(TicketOfferAnswered(**common, agent_id=agent, outcome="declined",
                                       answered_at=at + timedelta(seconds=30)))
        agent = rng.choice(AGENTS)
        out.append(TicketAssigned(**common, agent_id=agent, agent_tier=2, priority=priority,
                                  category=category, channel=channel, attempt=2,
                                  assigned_at=at + timedelta(minutes=1)))
    status = "new"
    base = {"ticket_type": kind, "priority": priority, "category": category,
            "channel": channel}
    for step, to in enumerate(["acknowledged", "in_progress", "resolved"]):
        out.append(TicketStatusChanged(**common, **base, from_status=status, to_status=to,
                                       changed_at=at + timedelta(minutes=10 * (step + 1))))
        status = to
    if rng.random() < 0.2:
        out.append(TicketPriorityChanged(**common, from_priority=priority, to_priority="P2",
                                         by="desk", changed_at=at + timedelta(minutes=12)))
    if rng.random() < 0.25:
        out.append(SlaWarning(**common, clock="resolution", priority=priority,
                              threshold_percent=75, due_at=at + timedelta(hours=1),
                              target_seconds=3600, at=at + timedelta(minutes=45)))
    if rng.random() < 0.15:
        clock = rng.choice(["first_response", "resolution"])
        out.append(SlaBreached(**common, clock=clock, priority=priority,
                               due_at=at + timedelta(hours=1), target_seconds=3600,
                               at=at + timedelta(hours=1)))
    for level in range(1, rng.choice([1, 1, 2, 3])):
        out.append(TicketEscalated(
            **common, kind=rng.choice(["functional", "hierarchical"]), level=level,
            trigger=rng.choice(["time", "sentiment"]), rule=f"rule-{level}",
            reason="slow", clock="resolution", to_tier=2,
            escalated_at=at + timedelta(minutes=20 + level)))
    end = at + timedelta(minutes=40)
    if rng.random() < 0.2:
        out.append(TicketStatusChanged(**common, **base, from_status="resolved",
                                       to_status="reopened", changed_at=end))
        out.append(TicketStatusChanged(**common, **base, from_status="reopened",
                                       to_status="resolved", changed_at=end + timedelta(
                                           minutes=5)))
        end += timedelta(minutes=5)
    if rng.random() < 0.6:
        out.append(SurveyAnswered(**common, kind="csat", score=rng.randint(1, 5),
                                  answered_at=end + timedelta(minutes=1)))
    if rng.random() < 0.2:
        out.append(SurveyAnswered(**common, kind="nps", score=rng.randint(0, 10),
                                  answered_at=end + timedelta(minutes=2)))
    if rng.random() < 0.7:
        out.append(TicketStatusChanged(**common, **base, from_status="resolved",
                                       to_status="closed", closed_by="customer_confirmation",
                                       changed_at=end + timedelta(minutes=3)))
    return out


def stream(tickets: int = 200, seed: int = 7) -> list[Event]:
    """The events, in one plausible order of arrival."""
    rng = random.Random(seed)
    stories: list[list[Event]] = []
    ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(tickets)]
    for n, tid in enumerate(ids):
        story = _ticket_story(rng, tid, START + timedelta(minutes=3 * n))
        if rng.random() < 0.1:  # the assignment overtook the creation
            story[0], story[3] = story[3], story[0]
        stories.append(story)
    extra: list[list[Event]] = []
    for n in range(max(1, tickets // 40)):
        mi = uuid.UUID(int=rng.getrandbits(128), version=4)
        at = START + timedelta(hours=n)
        children = rng.sample(ids, 4)
        extra.append([
            MajorIncidentDeclared(major_incident_id=mi, title=f"outage {n}", service="vpn",
                                  trigger="rule", reason="many users", declared_by="sla",
                                  ticket_ids=children[:2], declared_at=at),
            MajorIncidentTicketLinked(major_incident_id=mi, ticket_id=children[2],
                                      linked_at=at + timedelta(minutes=5)),
            MajorIncidentUpdateDue(major_incident_id=mi, sequence=1, last_update_at=at,
                                   due_at=at + timedelta(minutes=30)),
            MajorIncidentChanged(major_incident_id=mi, status="declared",
                                 change="update_posted", by="im", changed_at=at + timedelta(
                                     minutes=20)),
            MajorIncidentUpdateDue(major_incident_id=mi, sequence=3, last_update_at=at,
                                   due_at=at + timedelta(minutes=90)),
            MajorIncidentUpdateDue(major_incident_id=mi, sequence=2, last_update_at=at,
                                   due_at=at + timedelta(minutes=60)),
            MajorIncidentTicketLinked(major_incident_id=mi, ticket_id=children[3],
                                      linked_at=at + timedelta(minutes=25)),
            MajorIncidentChanged(major_incident_id=mi, status="restored", change="restored",
                                 by="im", changed_at=at + timedelta(minutes=50)),
            MajorIncidentChanged(major_incident_id=mi, status="restored", change="restored",
                                 by="im", changed_at=at + timedelta(minutes=55)),
            MajorIncidentChanged(major_incident_id=mi, status="closed", change="closed",
                                 by="im", changed_at=at + timedelta(minutes=90)),
        ])
        problem = uuid.UUID(int=rng.getrandbits(128), version=4)
        extra.append([
            ProblemIdentified(problem_id=problem, reason="recurring", service="mail",
                              category="software", ticket_ids=rng.sample(ids, 3) * 2,
                              identified_at=at),
            ProblemWorkaroundRecorded(problem_id=problem, title="restart", workaround="x",
                                      by="ana", recorded_at=at + timedelta(minutes=10)),
            ProblemWorkaroundRecorded(problem_id=problem, title="restart", workaround="y",
                                      by="ana", recorded_at=at + timedelta(minutes=20)),
        ])
    for agent in AGENTS:
        extra.append([AgentPresenceChanged(agent_id=agent, presence=p,
                                           changed_at=START + timedelta(minutes=m))
                      for m, p in ((0, "available"), (90, "away"), (100, "available"),
                                   (480, "offline"))])
    # interleave the stories, each keeping its own order
    queues = [list(s) for s in stories + extra]
    out: list[Event] = []
    while queues:
        queue = rng.choice(queues)
        out.append(queue.pop(0))
        if not queue:
            queues.remove(queue)
    return out


def envelopes(events: list[Event]) -> list[Envelope]:
    return [Envelope.wrap(e, source="/test", time=START) for e in events]
