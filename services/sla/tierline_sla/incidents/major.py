"""Major incidents: when an incident is major, and the lifecycle of the record. Pure.

Detection, on each newly logged incident (service requests never), in this order:
1. burst: N incidents on one configuration item (or, without one, one service) within a
   window, this one included; the key names the outage so the caller declares one major
   incident however many tickets arrive. The window may lie before or after this incident:
   tickets reach sla out of creation order (a consumed batch holds each partition's events
   in turn), so the incident that completes a burst is not always its latest one;
2. wide_impact: business-unit or organization-wide scope at P1 or P2;
3. critical_service_down: a business-critical service at the listed priorities;
4. no_workaround: the requester has no workaround, at the listed priorities;
5. compliance: regulatory or compliance exposure.
A sixth rule, breach_imminent, is checked by the timers: a P1 resolution clock past a share
of its target.

Lifecycle: declared -> restored -> resolved -> closed. Stakeholder updates are due every
``update_cadence_minutes`` until service is restored. Root cause and action items are taken
only after restoration; closing is the post-incident review, which needs a root cause and
refuses while action items are open.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class MajorIncidentPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")
    burst_tickets: int = Field(default=5, ge=2)
    burst_window_minutes: int = Field(default=15, gt=0, le=1440)
    wide_scopes: list[Literal["team", "business_unit", "organization"]] = Field(
        default_factory=lambda: ["business_unit", "organization"])
    wide_priorities: list[str] = Field(default_factory=lambda: ["P1", "P2"])
    business_critical_priorities: list[str] = Field(default_factory=lambda: ["P1"])
    no_workaround_priorities: list[str] = Field(default_factory=lambda: ["P1"])
    compliance: bool = True
    breach_imminent_percent: int = Field(default=75, gt=0, lt=100)
    update_cadence_minutes: int = Field(default=30, gt=0, le=1440)


@dataclass(frozen=True)
class TicketFacts:
    ticket_id: UUID
    ticket_type: str
    priority: str
    created_at: datetime
    title: str
    category: str
    service: str | None = None
    configuration_item: str | None = None
    business_critical: bool = False
    affected_scope: str | None = None
    workaround_available: bool | None = None
    compliance_exposure: bool = False


@dataclass(frozen=True)
class Detection:
    rule: str
    reason: str
    key: str
    ticket_ids: tuple[UUID, ...]


def outage_key(service: str | None, configuration_item: str | None) -> str | None:
    """What names an outage: the configuration item if known, else the service."""
    if configuration_item and configuration_item.strip():
        return f"ci:{configuration_item.strip().lower()}"
    if service and service.strip():
        return f"service:{service.strip().lower()}"
    return None


def _same_outage(a: TicketFacts, b: TicketFacts) -> bool:
    if a.configuration_item:
        return outage_key(None, b.configuration_item) == outage_key(None, a.configuration_item)
    return outage_key(b.service, None) == outage_key(a.service, None)


def densest(at: datetime, times: Sequence[datetime], window: timedelta) -> int:
    """The most of ``times`` (sorted) that one window of length ``window`` holding ``at``
    holds. Such a window can be slid right until it starts at one of them, losing none."""
    most, end = 0, 0
    for start, begins in enumerate(times):
        if begins > at:
            break
        if begins < at - window:
            continue
        end = max(end, start)
        while end < len(times) and times[end] <= begins + window:
            end += 1
        most = max(most, end - start)
    return most


def detect(ticket: TicketFacts, recent: Sequence[TicketFacts],
           policy: MajorIncidentPolicy) -> Detection | None:
    """The first rule that makes ``ticket`` (just logged) a major incident, if any;
    ``recent`` are the other tickets known so far, filtered here by type, outage and window.

    Tickets are not always logged in the order they were created, so a burst counts those
    created after ``ticket`` as well as before: it is found once any window holding
    ``ticket`` holds ``burst_tickets``, whichever of them came last, and it names every
    incident on the outage within the window either side of ``ticket`` (those created
    later would have been linked to the open major incident had they come later)."""
    if ticket.ticket_type != "incident":
        return None
    own = f"ticket:{ticket.ticket_id}"
    key = outage_key(ticket.service, ticket.configuration_item)
    if key is not None:
        window = timedelta(minutes=policy.burst_window_minutes)
        group = {ticket.ticket_id: ticket}
        for other in recent:
            if (other.ticket_type == "incident"
                    and abs(other.created_at - ticket.created_at) <= window
                    and _same_outage(ticket, other)):
                group[other.ticket_id] = other
        ordered_group = sorted(group.values(), key=lambda t: t.created_at)
        most = densest(ticket.created_at, [t.created_at for t in ordered_group], window)
        if most >= policy.burst_tickets:
            what = "configuration item" if key.startswith("ci:") else "service"
            name = ticket.configuration_item if key.startswith("ci:") else ticket.service
            return Detection("burst", f"{most} incidents on {what} {name!r} within "
                             f"{policy.burst_window_minutes} minutes (threshold "
                             f"{policy.burst_tickets})", key,
                             tuple(t.ticket_id for t in ordered_group))
    single = (ticket.ticket_id,)
    if ticket.affected_scope in policy.wide_scopes and ticket.priority in policy.wide_priorities:
        return Detection("wide_impact", f"{ticket.affected_scope.replace('_', ' ')}-wide impact "
                         f"at {ticket.priority}", key or own, single)
    if ticket.business_critical and ticket.priority in policy.business_critical_priorities:
        return Detection("critical_service_down", f"business-critical service "
                         f"{ticket.service or '(unnamed)'!r} down at {ticket.priority}",
                         key or own, single)
    if (ticket.workaround_available is False
            and ticket.priority in policy.no_workaround_priorities):
        return Detection("no_workaround", f"no workaround at {ticket.priority}", key or own,
                         single)
    if policy.compliance and ticket.compliance_exposure:
        return Detection("compliance", "regulatory or compliance exposure", key or own, single)
    return None


def breach_imminent(priority: str, clock: str, elapsed_seconds: float, target_seconds: int,
                    policy: MajorIncidentPolicy) -> str | None:
    """The reason a P1 resolution clock past the threshold makes a major incident."""
    if priority != "P1" or clock != "resolution" or target_seconds <= 0:
        return None
    share = 100 * elapsed_seconds / target_seconds
    if share + 1e-9 < policy.breach_imminent_percent:
        return None
    return (f"P1 resolution clock at {share:.0f}% of its target (threshold "
            f"{policy.breach_imminent_percent}%): breach imminent")


# --- the record -----------------------------------------------------------------------

Status = Literal["declared", "restored", "resolved", "closed"]


class MajorIncidentError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ActionItem:
    id: int
    title: str
    owner: str
    due: date
    done: bool = False


@dataclass(frozen=True)
class MajorIncident:
    id: UUID
    title: str
    status: Status
    declared_at: datetime
    last_update_at: datetime
    incident_manager: str | None = None
    restored_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    root_cause: str | None = None
    action_items: tuple[ActionItem, ...] = ()


def _refuse_closed(mi: MajorIncident) -> None:
    if mi.status == "closed":
        raise MajorIncidentError("closed", "the major incident is closed")


def post_update(mi: MajorIncident, at: datetime) -> MajorIncident:
    _refuse_closed(mi)
    return replace(mi, last_update_at=at)


def assign_manager(mi: MajorIncident, manager: str) -> MajorIncident:
    _refuse_closed(mi)
    return replace(mi, incident_manager=manager)


def restore(mi: MajorIncident, at: datetime) -> MajorIncident:
    if mi.status != "declared":
        raise MajorIncidentError("not_declared", f"service was already restored (the major "
                                 f"incident is {mi.status})")
    return replace(mi, status="restored", restored_at=at)


def _after_restoration(mi: MajorIncident, what: str) -> None:
    _refuse_closed(mi)
    if mi.status == "declared":
        raise MajorIncidentError("not_restored", f"{what} can only be recorded after service "
                                 f"is restored")


def record_root_cause(mi: MajorIncident, text: str) -> MajorIncident:
    _after_restoration(mi, "the root cause")
    return replace(mi, root_cause=text)


def add_action_item(mi: MajorIncident, title: str, owner: str, due: date) -> MajorIncident:
    _after_restoration(mi, "action items")
    item = ActionItem(id=len(mi.action_items) + 1, title=title, owner=owner, due=due)
    return replace(mi, action_items=(*mi.action_items, item))


def complete_action_item(mi: MajorIncident, item_id: int) -> MajorIncident:
    _refuse_closed(mi)
    if not any(i.id == item_id for i in mi.action_items):
        raise MajorIncidentError("unknown_action_item", f"there is no action item {item_id}")
    return replace(mi, action_items=tuple(replace(i, done=True) if i.id == item_id else i
                                          for i in mi.action_items))


def resolve(mi: MajorIncident, at: datetime) -> MajorIncident:
    if mi.status != "restored":
        raise MajorIncidentError("not_restored", f"only a restored major incident is resolved "
                                 f"(this one is {mi.status})")
    return replace(mi, status="resolved", resolved_at=at)


def close(mi: MajorIncident, at: datetime) -> MajorIncident:
    """The post-incident review closes the record: it needs a root cause and every action
    item done."""
    if mi.status != "resolved":
        raise MajorIncidentError("not_resolved", f"only a resolved major incident is closed "
                                 f"(this one is {mi.status})")
    if not mi.root_cause:
        raise MajorIncidentError("no_root_cause", "the review needs a root cause before it "
                                 "closes")
    still = [i for i in mi.action_items if not i.done]
    if still:
        names = "; ".join(f"{i.id}. {i.title} ({i.owner}, due {i.due})" for i in still)
        raise MajorIncidentError("action_items_open", f"action items still open: {names}")
    return replace(mi, status="closed", closed_at=at)


def next_update_due(mi: MajorIncident, policy: MajorIncidentPolicy) -> datetime | None:
    """When stakeholders are next due an update: only until service is restored."""
    if mi.status != "declared":
        return None
    return mi.last_update_at + timedelta(minutes=policy.update_cadence_minutes)
