"""What ServiceNow, Jira and Zendesk send, mapped onto Tierline's ticket: pure functions.

The mappings follow the products' public documentation:

- ServiceNow: the ``incident`` record as the Table API returns it (``GET
  /api/now/table/incident/{sys_id}``, wrapped in ``result`` or not), with raw values
  (``sysparm_display_value=false``: ``"1"``), display values (``true``: ``"1 - High"``,
  ``"In Progress"``) or both (``all``: ``{"value": ..., "display_value": ...}``). Impact and
  urgency 1-3 are high, medium, low; states 1 New, 2 In Progress, 3 On Hold, 6 Resolved,
  7 Closed (8 Canceled has no Tierline equivalent and is reported).
- Jira: the ``jira:issue_created`` and ``jira:issue_updated`` webhook bodies (``issue.id``,
  ``issue.key``, ``issue.fields``: summary, description as text or Atlassian Document
  Format, reporter, priority Highest..Lowest, status with its ``statusCategory``, issue
  type, components and labels, updated).
- Zendesk: the ticket JSON of its API and webhooks (``{"ticket": {...}}``, or the
  event-based webhooks' ``{"type": "zen:event-type:ticket...", "detail": {...}}``):
  priority urgent/high/normal/low, status new/open/pending/hold/solved/closed, type
  problem/incident/question/task, ``via.channel``, tags.

What the mapping cannot do without is a :class:`MissingField` naming its path; a value the
mapping does not know (a custom status) is kept and reported in ``unmapped``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SYSTEMS = ("servicenow", "jira", "zendesk")


class MissingField(ValueError):
    def __init__(self, path: str, message: str = "required by the mapping") -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


@dataclass(frozen=True)
class Unmapped:
    path: str
    value: str
    reason: str


@dataclass(frozen=True)
class ExternalTicket:
    """One external ticket, in Tierline's terms. ``status`` is None when the external status
    has no Tierline equivalent (it is kept in ``external_status`` and listed in
    ``unmapped``)."""

    system: str
    external_id: str
    key: str
    title: str
    description: str
    requester: dict[str, str]
    external_status: str
    status: str | None
    channel: str = "api"
    ticket_type: str | None = None
    impact: str | None = None
    urgency: str | None = None
    priority: str | None = None
    priority_source: str | None = None
    categories: tuple[str, ...] = ()
    resolution_notes: str | None = None
    updated_at: datetime | None = None
    unmapped: tuple[Unmapped, ...] = field(default_factory=tuple)
    assignee: str | None = None  # the desk's own id of who works it there


def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != {} and value != []


def _need(data: Any, path: str, prefix: str = "") -> Any:
    value = _get(data, path)
    if not _present(value):
        raise MissingField(prefix + path)
    return value


def plain_text(value: Any) -> str:
    """Plain text from a string or an Atlassian Document Format node."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("type") == "text":
            return str(value.get("text", ""))
        parts = [plain_text(child) for child in value.get("content", []) or []]
        joiner = "\n" if value.get("type") in ("doc", "bulletList", "orderedList") else ""
        return joiner.join(p for p in parts if p)
    if isinstance(value, list):
        return "\n".join(plain_text(v) for v in value)
    return str(value)


def _title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def _time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):  # epoch milliseconds (Jira's timestamp)
        return datetime.fromtimestamp(value / 1000, UTC)
    text = str(value).strip().replace("Z", "+00:00")
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text)  # Jira: +0000
    for fmt in (None, "%Y-%m-%d %H:%M:%S"):
        try:
            parsed = (datetime.fromisoformat(text) if fmt is None
                      else datetime.strptime(text, fmt))
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# ---------------------------------------------------------------- ServiceNow

SN_LEVELS = {"1": "high", "2": "medium", "3": "low"}
SN_PRIORITIES = {"1": "P1", "2": "P2", "3": "P3", "4": "P4", "5": "P5"}
SN_STATES = {"1": "new", "2": "in_progress", "3": "pending_customer", "6": "resolved",
             "7": "closed"}
SN_STATE_NAMES = {"new": "1", "in progress": "2", "on hold": "3", "resolved": "6",
                  "closed": "7", "canceled": "8", "cancelled": "8"}
SN_CATEGORIES = {"software": "software", "hardware": "hardware", "network": "network",
                 "database": "software"}
SN_CHANNELS = {"phone": "phone", "email": "email", "self-service": "portal", "chat": "chat",
               "virtual_agent": "chat", "walk-in": "portal"}


def _sn_value(value: Any) -> str | None:
    """A field as ``"1"``, ``"1 - High"`` or ``{"value": "1", "display_value": ...}``."""
    if isinstance(value, dict):
        value = value.get("value") if _present(value.get("value")) else value.get(
            "display_value")
    if not _present(value):
        return None
    return str(value).strip()


def _sn_code(value: Any) -> str | None:
    text = _sn_value(value)
    if text is None:
        return None
    match = re.match(r"^(\d+)\b", text)
    return match.group(1) if match else text


def _sn_display(value: Any) -> str | None:
    if isinstance(value, dict) and _present(value.get("display_value")):
        return str(value["display_value"])
    return _sn_value(value)


def map_servicenow(payload: dict[str, Any]) -> ExternalTicket:
    record, prefix = (payload["result"], "result.") if isinstance(
        payload.get("result"), dict) else (payload, "")
    sys_id = _sn_value(_need(record, "sys_id", prefix))
    if sys_id is None:
        raise MissingField(prefix + "sys_id")
    title = _sn_value(_need(record, "short_description", prefix)) or ""
    caller = _need(record, "caller_id", prefix)
    caller_id = _sn_value(caller)
    if caller_id is None:
        raise MissingField(prefix + "caller_id.value")
    requester = {"id": caller_id}
    if isinstance(caller, dict) and _present(caller.get("display_value")):
        requester["name"] = str(caller["display_value"])
    unmapped: list[Unmapped] = []

    raw_state = _need(record, "state", prefix)
    state = _sn_code(raw_state) or ""
    state = SN_STATE_NAMES.get(state.lower(), state)
    status = SN_STATES.get(state)
    external_status = _sn_display(raw_state) or state
    if status is None:
        unmapped.append(Unmapped(prefix + "state", external_status,
                                 "no Tierline status for this ServiceNow state"))

    def level(name: str) -> str | None:
        code = _sn_code(record.get(name))
        if code is None:
            return None
        if code not in SN_LEVELS:
            unmapped.append(Unmapped(prefix + name, code, f"unknown ServiceNow {name}"))
        return SN_LEVELS.get(code)

    impact, urgency = level("impact"), level("urgency")
    priority = None
    if impact is None or urgency is None:  # impact x urgency decide; priority only without
        code = _sn_code(record.get("priority"))
        priority = SN_PRIORITIES.get(code or "")
    category = (_sn_value(record.get("category")) or "").lower()
    categories = tuple(c for c in (SN_CATEGORIES.get(category),) if c)
    contact = (_sn_value(record.get("contact_type")) or "").lower()
    return ExternalTicket(
        system="servicenow", external_id=sys_id,
        key=_sn_value(record.get("number")) or sys_id, title=_title(title),
        description=_sn_value(record.get("description")) or title,
        requester=requester, external_status=external_status, status=status,
        channel=SN_CHANNELS.get(contact, "api"), ticket_type="incident",
        impact=impact, urgency=urgency, priority=priority,
        priority_source=f"ServiceNow priority {_sn_display(record.get('priority'))}"
        if priority else None,
        categories=categories,
        resolution_notes=_sn_value(record.get("close_notes")),
        updated_at=_time(_sn_value(record.get("sys_updated_on"))),
        unmapped=tuple(unmapped), assignee=_sn_value(record.get("assigned_to")) or None)


# ---------------------------------------------------------------- Jira

JIRA_EVENTS = ("jira:issue_created", "jira:issue_updated")
JIRA_PRIORITIES = {"highest": "P1", "blocker": "P1", "critical": "P1", "high": "P2",
                   "major": "P2", "medium": "P3", "low": "P4", "minor": "P4", "lowest": "P5",
                   "trivial": "P5"}
JIRA_STATUSES = {
    "to do": "new", "open": "new", "new": "new", "backlog": "new",
    "waiting for support": "new",
    "in progress": "in_progress", "work in progress": "in_progress",
    "under investigation": "in_progress", "escalated": "in_progress",
    "waiting for customer": "pending_customer", "pending": "pending_customer",
    "resolved": "resolved", "done": "resolved",
    "closed": "closed",
}
JIRA_CATEGORIES = {"new": "new", "indeterminate": "in_progress", "done": "resolved"}
JIRA_TYPES = {"incident": "incident", "bug": "incident", "problem": "incident",
              "service request": "service_request",
              "service request with approvals": "service_request",
              "it help": "service_request", "task": "service_request"}


def map_jira(payload: dict[str, Any]) -> ExternalTicket:
    event = _need(payload, "webhookEvent")
    if event not in JIRA_EVENTS:
        raise MissingField("webhookEvent", f"must be one of {', '.join(JIRA_EVENTS)}, "
                                           f"got {event!r}")
    issue_id = str(_need(payload, "issue.id"))
    fields = _need(payload, "issue.fields")
    if not isinstance(fields, dict):
        raise MissingField("issue.fields", "must be an object")
    title = str(_need(payload, "issue.fields.summary"))
    reporter = _need(payload, "issue.fields.reporter")
    reporter_id = next((str(reporter[k]) for k in ("accountId", "name", "key")
                        if isinstance(reporter, dict) and _present(reporter.get(k))), None)
    if reporter_id is None:
        raise MissingField("issue.fields.reporter.accountId")
    requester = {"id": reporter_id}
    if _present(reporter.get("displayName")):
        requester["name"] = str(reporter["displayName"])
    if _present(reporter.get("emailAddress")):
        requester["email"] = str(reporter["emailAddress"])
    unmapped: list[Unmapped] = []

    status_name = str(_need(payload, "issue.fields.status.name"))
    status = JIRA_STATUSES.get(status_name.lower())
    if status is None:
        category_key = _get(fields, "status.statusCategory.key")
        status = JIRA_CATEGORIES.get(str(category_key)) if category_key else None
    if status is None:
        unmapped.append(Unmapped("issue.fields.status.name", status_name,
                                 "no Tierline status for this Jira status or its category"))

    priority = None
    priority_name = _get(fields, "priority.name")
    if _present(priority_name):
        priority = JIRA_PRIORITIES.get(str(priority_name).lower())
        if priority is None:
            unmapped.append(Unmapped("issue.fields.priority.name", str(priority_name),
                                     "unknown Jira priority; priority inferred"))
    type_name = str(_get(fields, "issuetype.name") or "")
    hints = [str(c.get("name", "")).lower() for c in fields.get("components") or []
             if isinstance(c, dict)]
    hints += [str(label).lower() for label in fields.get("labels") or []]
    return ExternalTicket(
        system="jira", external_id=issue_id, key=str(_get(payload, "issue.key") or issue_id),
        title=_title(title), description=plain_text(fields.get("description")) or title,
        requester=requester, external_status=status_name, status=status,
        ticket_type=JIRA_TYPES.get(type_name.lower()), priority=priority,
        priority_source=f"Jira priority {priority_name}" if priority else None,
        categories=tuple(hints),
        resolution_notes=(f"Jira resolution: {_get(fields, 'resolution.name')}"
                          if _present(_get(fields, "resolution.name")) else None),
        updated_at=_time(fields.get("updated")) or _time(payload.get("timestamp")),
        unmapped=tuple(unmapped), assignee=_get(fields, "assignee.accountId") or None)


# ---------------------------------------------------------------- Zendesk

ZD_PRIORITIES = {"urgent": "P1", "high": "P2", "normal": "P3", "low": "P4"}
ZD_STATUSES = {"new": "new", "open": "in_progress", "pending": "pending_customer",
               "hold": "in_progress", "solved": "resolved", "closed": "closed"}
ZD_TYPES = {"problem": "incident", "incident": "incident", "question": "service_request",
            "task": "service_request"}
ZD_CHANNELS = {"web": "portal", "email": "email", "chat": "chat", "native_messaging": "chat",
               "voice": "phone", "api": "api", "mobile": "portal", "web_widget": "chat"}


def map_zendesk(payload: dict[str, Any]) -> ExternalTicket:
    if isinstance(payload.get("ticket"), dict):
        ticket, prefix = payload["ticket"], "ticket."
    elif isinstance(payload.get("detail"), dict):
        ticket, prefix = payload["detail"], "detail."
    else:
        raise MissingField("ticket", "a Zendesk ticket object (ticket, or detail in an "
                                     "event-based webhook)")
    ticket_id = str(_need(ticket, "id", prefix))
    subject = ticket.get("subject") or ticket.get("raw_subject")
    description = ticket.get("description") or ""
    if not _present(subject) and not _present(description):
        raise MissingField(prefix + "subject")
    requester_obj = ticket.get("requester") if isinstance(ticket.get("requester"), dict) else {}
    requester_id = ticket.get("requester_id") or requester_obj.get("id") or requester_obj.get(
        "email")
    if not _present(requester_id):
        raise MissingField(prefix + "requester_id")
    requester = {"id": str(requester_id)}
    for key in ("name", "email"):
        if _present(requester_obj.get(key)):
            requester[key] = str(requester_obj[key])
    unmapped: list[Unmapped] = []
    status_name = str(_need(ticket, "status", prefix))
    status = ZD_STATUSES.get(status_name.lower())
    if status is None:
        unmapped.append(Unmapped(prefix + "status", status_name,
                                 "no Tierline status for this Zendesk status"))
    priority = None
    priority_name = ticket.get("priority")
    if _present(priority_name):
        priority = ZD_PRIORITIES.get(str(priority_name).lower())
        if priority is None:
            unmapped.append(Unmapped(prefix + "priority", str(priority_name),
                                     "unknown Zendesk priority; priority inferred"))
    via = str(_get(ticket, "via.channel") or "").lower()
    return ExternalTicket(
        system="zendesk", external_id=ticket_id, key=f"#{ticket_id}",
        title=_title(str(subject or description)), description=str(description or subject),
        requester=requester, external_status=status_name, status=status,
        channel=ZD_CHANNELS.get(via, "api"),
        ticket_type=ZD_TYPES.get(str(ticket.get("type") or "").lower()),
        priority=priority,
        priority_source=f"Zendesk priority {priority_name}" if priority else None,
        categories=tuple(str(tag).lower() for tag in ticket.get("tags") or []),
        updated_at=_time(ticket.get("updated_at")), unmapped=tuple(unmapped),
        assignee=str(ticket["assignee_id"]) if _present(ticket.get("assignee_id")) else None)


MAPPERS = {"servicenow": map_servicenow, "jira": map_jira, "zendesk": map_zendesk}
