"""A scripted day of support (Monday 2026-11-02, UTC) whose KPIs were worked out by hand.

Agents a1 and a2 are Tier 1, b1 Tier 2. Office hours (the P3/P4 calendar in sla.yaml) are
09:00-12:30 and 13:30-17:30; P1/P2 run 24x7. The figures in EXPECTED are derived in the
comments beside each ticket and again next to each figure.

T1  chat   P3 network/vpn     u1   09:00 a1; response 09:10; resolved 10:00; CSAT 5, NPS 10
T2  email  P3 software/office u2   08:00 a1; response 09:30; resolved 11:00, reopened 12:00,
                                   resolved 14:00; CSAT 2
T3  portal P2 access/password u3   10:00 a2 (T1); response 10:40 (first response breached at
                                   10:30); functional escalation 11:00; b1 (T2, attempt 2)
                                   11:05; resolved 13:00; CSAT 4, NPS 8
T4  phone  P3 hardware/laptop u4   11:00 a1, who declines at 11:02; a2 (attempt 2) 11:03;
                                   response 11:30; resolved 15:00; CSAT 5, NPS 3
T5  chat   P3 software/email  u5   09:00 a2; response 09:05; resolved 09:20
T6  ivr    P3 software/email  u5   13:00 (the same customer and issue as T5, by phone) a1;
                                   response 13:40; resolved 14:30; CSAT 3
T7  portal    software/office u7   12:00 deflected ("How do I ...", self-service)
T8  chat      access/password u8   15:00 deflected
T9  phone  P1 network/outage  u9   16:00 b1; response 16:02; hierarchical escalation 16:30;
                                   resolution breached 20:00; still open at midnight
T10 email  P4 hardware/printer u10 17:00 queued, never assigned; open at midnight
T11 portal P3 access/account  u11  13:00 a1; response 14:00; resolved 16:00; NPS 9
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    SlaBreached,
    SurveyAnswered,
    TicketAssigned,
    TicketCreated,
    TicketEscalated,
    TicketOfferAnswered,
    TicketQueued,
    TicketStatusChanged,
)

DAY = datetime(2026, 11, 2, tzinfo=UTC)
PERIOD = (DAY, DAY + timedelta(days=1))
COST_PER_AGENT_HOUR = 40.0


def at(hhmm: str) -> datetime:
    hours, minutes = hhmm.split(":")
    return DAY + timedelta(hours=int(hours), minutes=int(minutes))


TIERS = {"a1": 1, "a2": 1, "b1": 2}
TEAMS = {"a1": "desk", "a2": "desk", "b1": "network-ops"}
TICKETS = {  # name: (type, channel, priority, category, subcategory, requester, created)
    "T1": ("incident", "chat", "P3", "network", "vpn", "u1", "09:00"),
    "T2": ("incident", "email", "P3", "software", "office", "u2", "08:00"),
    "T3": ("service_request", "portal", "P2", "access", "password", "u3", "10:00"),
    "T4": ("incident", "phone", "P3", "hardware", "laptop", "u4", "11:00"),
    "T5": ("incident", "chat", "P3", "software", "email", "u5", "09:00"),
    "T6": ("incident", "ivr", "P3", "software", "email", "u5", "13:00"),
    "T7": ("service_request", "portal", "P4", "software", "office", "u7", "12:00"),
    "T8": ("service_request", "chat", "P4", "access", "password", "u8", "15:00"),
    "T9": ("incident", "phone", "P1", "network", "outage", "u9", "16:00"),
    "T10": ("incident", "email", "P4", "hardware", "printer", "u10", "17:00"),
    "T11": ("service_request", "portal", "P3", "access", "account", "u11", "13:00"),
}
IDS = {name: uuid.uuid5(uuid.NAMESPACE_URL, f"tierline-kpi-stream/{name}") for name in TICKETS}


class Script:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.status: dict[str, str] = {}

    def create(self, name: str, deflected: bool = False) -> None:
        kind, channel, priority, category, sub, requester, created = TICKETS[name]
        title = "How do I reset my password" if name == "T7" else f"{category} trouble"
        self.events.append(TicketCreated(
            ticket_id=IDS[name], ticket_type=kind, title=title, category=category,  # type: ignore[arg-type]
            subcategory=sub, priority=priority, impact="medium", urgency="medium",  # type: ignore[arg-type]
            channel=channel, requester_id=requester, deflected=deflected,  # type: ignore[arg-type]
            created_at=at(created)))
        self.status[name] = "new"

    def assign(self, name: str, agent: str, when: str, attempt: int = 1,
               previous: str | None = None) -> None:
        kind, channel, priority, category, *_ = TICKETS[name]
        self.events.append(TicketAssigned(
            ticket_id=IDS[name], agent_id=agent, agent_tier=TIERS[agent], priority=priority,  # type: ignore[arg-type]
            category=category, channel=channel, assigned_at=at(when), attempt=attempt,  # type: ignore[arg-type]
            previous_agent_id=previous, agent_team=TEAMS[agent]))

    def move(self, name: str, to: str, when: str) -> None:
        kind, channel, priority, category, *_ = TICKETS[name]
        self.events.append(TicketStatusChanged(
            ticket_id=IDS[name], ticket_type=kind, from_status=self.status[name],  # type: ignore[arg-type]
            to_status=to, priority=priority, category=category, channel=channel,  # type: ignore[arg-type]
            resolution_notes="done" if to == "resolved" else None, changed_at=at(when)))
        self.status[name] = to

    def survey(self, name: str, kind: str, score: int, when: str) -> None:
        self.events.append(SurveyAnswered(ticket_id=IDS[name], kind=kind, score=score,  # type: ignore[arg-type]
                                          answered_at=at(when)))

    def escalate(self, name: str, kind: str, when: str, to_tier: int | None = None) -> None:
        self.events.append(TicketEscalated(
            ticket_id=IDS[name], kind=kind, level=1, trigger="time", rule="script",  # type: ignore[arg-type]
            reason="scripted", clock="resolution", to_tier=to_tier, escalated_at=at(when)))

    def presence(self, agent: str, presence: str, when: str) -> None:
        self.events.append(AgentPresenceChanged(agent_id=agent, presence=presence,  # type: ignore[arg-type]
                                                changed_at=at(when)))


def script() -> list[Event]:
    s = Script()
    # Staffed (available or busy) hours: a1 08:00-17:00 = 9, a2 09:00-17:00 = 8,
    # b1 10:00-20:00 = 10 (busy from 16:00): 27 hours at 40 an hour = 1080.
    s.presence("a1", "available", "08:00")
    s.presence("a2", "available", "09:00")
    s.presence("b1", "available", "10:00")
    s.presence("b1", "busy", "16:00")
    s.presence("a1", "offline", "17:00")
    s.presence("a2", "offline", "17:00")
    s.presence("b1", "offline", "20:00")

    s.create("T1")
    s.assign("T1", "a1", "09:00")
    s.move("T1", "in_progress", "09:10")
    s.move("T1", "resolved", "10:00")
    s.survey("T1", "csat", 5, "10:30")
    s.survey("T1", "nps", 10, "10:31")

    s.create("T2")
    s.assign("T2", "a1", "08:00")
    s.move("T2", "acknowledged", "09:30")
    s.move("T2", "resolved", "11:00")
    s.move("T2", "reopened", "12:00")
    s.move("T2", "resolved", "14:00")
    s.survey("T2", "csat", 2, "15:00")

    s.create("T3")
    s.assign("T3", "a2", "10:00")
    s.events.append(SlaBreached(ticket_id=IDS["T3"], clock="first_response", priority="P2",
                                due_at=at("10:30"), target_seconds=1800, at=at("10:30")))
    s.move("T3", "in_progress", "10:40")
    s.escalate("T3", "functional", "11:00", to_tier=2)
    s.assign("T3", "b1", "11:05", attempt=2, previous="a2")
    s.move("T3", "resolved", "13:00")
    s.survey("T3", "csat", 4, "13:30")
    s.survey("T3", "nps", 8, "13:31")

    s.create("T4")
    s.assign("T4", "a1", "11:00")
    s.events.append(TicketOfferAnswered(ticket_id=IDS["T4"], agent_id="a1", outcome="declined",
                                        answered_at=at("11:02")))
    s.assign("T4", "a2", "11:03", attempt=2, previous="a1")
    s.move("T4", "in_progress", "11:30")
    s.move("T4", "resolved", "15:00")
    s.survey("T4", "csat", 5, "15:10")
    s.survey("T4", "nps", 3, "15:11")

    s.create("T5")
    s.assign("T5", "a2", "09:00")
    s.move("T5", "in_progress", "09:05")
    s.move("T5", "resolved", "09:20")

    s.create("T6")
    s.assign("T6", "a1", "13:00")
    s.move("T6", "in_progress", "13:40")
    s.move("T6", "resolved", "14:30")
    s.survey("T6", "csat", 3, "14:45")

    s.create("T7", deflected=True)
    s.create("T8", deflected=True)

    s.create("T9")
    s.assign("T9", "b1", "16:00")
    s.move("T9", "in_progress", "16:02")
    s.escalate("T9", "hierarchical", "16:30")
    s.events.append(SlaBreached(ticket_id=IDS["T9"], clock="resolution", priority="P1",
                                due_at=at("20:00"), target_seconds=14400, at=at("20:00")))

    s.create("T10")
    s.events.append(TicketQueued(ticket_id=IDS["T10"], priority="P4", category="hardware",
                                 queued_at=at("17:00"), reason="no agent free"))

    s.create("T11")
    s.assign("T11", "a1", "13:00")
    s.move("T11", "in_progress", "14:00")
    s.move("T11", "resolved", "16:00")
    s.survey("T11", "nps", 9, "16:30")
    return s.events


def times(p50: float, p90: float, b50: float, b90: float, count: int) -> dict[str, Any]:
    return {"count": count, "p50": p50, "p90": p90, "business_p50": b50, "business_p90": b90}


# The overall figures for the day, each derived by hand.
EXPECTED: dict[str, Any] = {
    # 11 contacts, 2 deflected (T7, T8): 2/11.
    "contacts": 11, "deflected": 2, "deflection_rate": 0.1818,
    # Issues (non-deflected, by requester+category+subcategory within 7 days): T1, T2, T3,
    # T4, {T5, T6}, T9, T10, T11; judged (something resolved): T1, T2, T3, T4, {T5,T6},
    # T11 = 6. First contact: T1 and T11 only (T2 reopened, T3 escalated and reassigned,
    # T4 reassigned after a decline, T5/T6 two contacts): 2/6.
    "fcr": {"issues": 6, "resolved_first_contact": 2, "rate": 0.3333},
    # CSAT answers 5, 2, 4, 5, 3: 3 of 5 are 4 or 5; mean 19/5.
    "csat": {"responses": 5, "satisfied": 3, "rate": 0.6, "mean": 3.8},
    # NPS answers 10, 8, 3, 9: promoters 2, detractors 1: (2 - 1) / 4 = 25 points.
    "nps": {"responses": 4, "promoters": 2, "detractors": 1, "score": 25.0},
    # 9 handled tickets; T3 (functional) and T9 (hierarchical) escalated.
    "escalation": {"tickets": 9, "escalated": 2, "rate": 0.2222, "functional_rate": 0.1111,
                   "hierarchical_rate": 0.1111},
    # 7 resolved (T1-T6 but T7/T8, and T11); T2 reopened.
    "reopen": {"resolved": 7, "reopened": 1, "rate": 0.1429},
    # Wall: 600, 5400, 2400, 1800, 300, 2400, 120, 3600 -> sorted 120 300 600 1800 2400
    # 2400 3600 5400; nearest rank p50 = 4th = 1800, p90 = 8th = 5400. Business (office
    # hours for P3; 24x7 for P1/P2): T2 08:00-09:30 counts 09:00-09:30 = 1800, T6
    # 13:00-13:40 counts 13:30-13:40 = 600, T11 13:00-14:00 counts 1800 -> 120 300 600 600
    # 1800 1800 1800 2400: p50 = 600, p90 = 2400.
    "first_response_seconds": times(1800, 5400, 600, 2400, 8),
    # Wall to the last resolution: 3600, 21600, 10800, 14400, 1200, 5400, 10800 -> p50 (4th
    # of 7) 10800, p90 (7th) 21600. Business: T2 09:00-12:30 + 13:30-14:00 = 14400, T4
    # 11:00-12:30 + 13:30-15:00 = 10800, T6 13:30-14:30 = 3600, T11 13:30-16:00 = 9000 ->
    # 1200 3600 3600 9000 10800 10800 14400: p50 9000, p90 14400.
    "resolution_seconds": times(10800, 21600, 9000, 14400, 7),
    # Resolved without a first-response or resolution breach: all but T3.
    "sla_attainment": {"resolved": 7, "met": 6, "rate": 0.8571},
    # Open at midnight: T9 (8 h old), T10 (7 h).
    "backlog": {"open": 2, "age_p50_seconds": 25200, "age_p90_seconds": 28800,
                "age_max_seconds": 28800},
    "output": 7,
    # 27 staffed hours x 40 / 7 tickets resolved in the day.
    "cost_per_ticket": 154.29,
    # By the channel of the first contact: T5/T6 counts for chat, not ivr.
    "fcr_by_channel": {
        "chat": {"issues": 2, "resolved_first_contact": 1, "rate": 0.5},
        "email": {"issues": 1, "resolved_first_contact": 0, "rate": 0.0},
        "ivr": {"issues": 0, "resolved_first_contact": 0, "rate": None},
        "phone": {"issues": 1, "resolved_first_contact": 0, "rate": 0.0},
        "portal": {"issues": 2, "resolved_first_contact": 1, "rate": 0.5},
    },
    # Tier 1 held T1 T2 T3 T4 T5 T6 T11 (7) and escalated T3 while holding it; Tier 2 held
    # T3 and T9 and escalated T9.
    "escalation_by_tier": {
        "1": {"tickets": 7, "escalated": 1, "rate": 0.1429, "functional_rate": 0.1429,
              "hierarchical_rate": 0.0},
        "2": {"tickets": 2, "escalated": 1, "rate": 0.5, "functional_rate": 0.0,
              "hierarchical_rate": 0.5},
    },
    # Resolved at Tier 1: T1 3600, T2 21600, T4 14400, T5 1200, T6 5400, T11 10800 -> p50
    # (3rd of 6) 5400, p90 (6th) 21600; business 3600 14400 10800 1200 3600 9000 -> p50
    # 3600, p90 14400. Tier 2: T3 alone.
    "resolution_seconds_by_tier": {"1": times(5400, 21600, 3600, 14400, 6),
                                   "2": times(10800, 10800, 10800, 10800, 1)},
    "sla_attainment_by_priority": {
        "P1": {"resolved": 0, "met": 0, "rate": None},
        "P2": {"resolved": 1, "met": 0, "rate": 0.0},
        "P3": {"resolved": 6, "met": 6, "rate": 1.0},
        "P4": {"resolved": 0, "met": 0, "rate": None},
    },
    "volume": {
        "category": {"access": 3, "hardware": 2, "network": 2, "software": 4},
        "type": {"incident": 7, "service_request": 4},
        "channel": {"chat": 3, "email": 2, "ivr": 1, "phone": 2, "portal": 3},
        "hour": {"08": 1, "09": 2, "10": 1, "11": 1, "12": 1, "13": 2, "15": 1, "16": 1,
                 "17": 1},
    },
}

# Per agent (group_by=agent): tickets held, resolved (output), CSAT of what they resolved,
# escalations raised while they held the ticket, reopens of what they resolved, cost.
EXPECTED_AGENTS: dict[str, dict[str, Any]] = {
    # a1 held T1 T2 T4 T6 T11, resolved T1 T2 T6 T11 (CSAT 5, 2, 3), T2 reopened; first
    # agent of T1 (FCR) T2 T4 T11 (FCR); 9 h x 40 / 4.
    "a1": {"output": 4, "csat": {"responses": 3, "satisfied": 1, "rate": 0.3333,
                                 "mean": 3.3333},
           "escalation": {"tickets": 5, "escalated": 0, "rate": 0.0, "functional_rate": 0.0,
                          "hierarchical_rate": 0.0},
           "reopen": {"resolved": 4, "reopened": 1, "rate": 0.25},
           "fcr": {"issues": 4, "resolved_first_contact": 2, "rate": 0.5},
           "cost_per_ticket": 90.0},
    # a2 held T3 T4 T5, resolved T4 (CSAT 5) and T5, escalated T3; 8 h x 40 / 2.
    "a2": {"output": 2, "csat": {"responses": 1, "satisfied": 1, "rate": 1.0, "mean": 5.0},
           "escalation": {"tickets": 3, "escalated": 1, "rate": 0.3333,
                          "functional_rate": 0.3333, "hierarchical_rate": 0.0},
           "reopen": {"resolved": 2, "reopened": 0, "rate": 0.0},
           "fcr": {"issues": 2, "resolved_first_contact": 0, "rate": 0.0},
           "cost_per_ticket": 160.0},
    # b1 held T3 and T9, resolved T3 (CSAT 4), escalated T9; 10 h x 40 / 1.
    "b1": {"output": 1, "csat": {"responses": 1, "satisfied": 1, "rate": 1.0, "mean": 4.0},
           "escalation": {"tickets": 2, "escalated": 1, "rate": 0.5, "functional_rate": 0.0,
                          "hierarchical_rate": 0.5},
           "reopen": {"resolved": 1, "reopened": 0, "rate": 0.0},
           "fcr": {"issues": 0, "resolved_first_contact": 0, "rate": None},
           "cost_per_ticket": 400.0},
}


def subset(actual: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """``actual`` cut down to the keys ``expected`` names, for one readable assertion."""
    return {k: subset(actual[k], v) if isinstance(v, dict) and isinstance(actual.get(k), dict)
            else actual.get(k) for k, v in expected.items()}
