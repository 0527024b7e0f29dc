"""What each desk's API expects when Tierline writes an assignment back: pure functions
from a write-back's target to HTTP requests.

- ServiceNow Table API: ``PATCH /api/now/table/{table}/{sys_id}`` with ``assigned_to``,
  ``assignment_group`` and ``work_notes`` (``incident``, or ``sc_req_item`` for requests);
  ``GET`` of the same record with ``sysparm_fields`` to read who has it.
- Jira Cloud platform REST API v3: ``PUT /rest/api/3/issue/{issueIdOrKey}/assignee`` with
  ``{"accountId": ...}`` (204), then ``POST /rest/api/3/issue/{issueIdOrKey}/comment`` with
  an Atlassian Document Format body and the ``sd.public.comment`` property
  ``{"internal": true}`` (Jira Service Management's internal note); ``GET
  /rest/api/3/issue/{issueIdOrKey}?fields=assignee`` to read who has it.
- Zendesk Support API: ``PUT /api/v2/tickets/{id}`` with ``{"ticket": {"assignee_id",
  "group_id", "comment": {"body", "public": false}}}``; ``GET`` of the same ticket.

Each write-back is a list of steps; a step whose effect the desk already shows (read first)
is skipped, and a retry skips the steps already done, so repeating a write-back changes
nothing in the desk.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

AUTHS = {"servicenow": ("basic", "bearer"), "jira": ("basic",), "zendesk": ("api_token",)}
CREDENTIAL_FIELDS = {
    ("servicenow", "basic"): ("username", "password"),
    ("servicenow", "bearer"): ("token",),
    ("jira", "basic"): ("email", "api_token"),
    ("zendesk", "api_token"): ("email", "api_token"),
}


@dataclass(frozen=True)
class Step:
    name: str
    method: str
    path: str
    json: dict[str, Any] | None = None


def authorization(system: str, auth: str, credentials: dict[str, str]) -> str:
    """The ``Authorization`` header value: Basic for ServiceNow users and Jira (email:API
    token), ``email/token:API token`` for Zendesk, Bearer for a ServiceNow OAuth token."""
    if auth == "bearer":
        return f"Bearer {credentials['token']}"
    if system == "zendesk":
        user, password = f"{credentials['email']}/token", credentials["api_token"]
    elif system == "jira":
        user, password = credentials["email"], credentials["api_token"]
    else:
        user, password = credentials["username"], credentials["password"]
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def note_text(agent_name: str, agent_id: str, reasons: dict[str, Any]) -> str:
    """The work note or internal comment: who, and why (the router's reasons)."""
    why = "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items())
                    if isinstance(v, (str, int, float)) and k != "trigger")
    trigger = reasons.get("trigger")
    return (f"Tierline assigned this to {agent_name} ({agent_id})"
            + (f" - {why}" if why else "") + (f" [{trigger}]" if trigger else "") + ".")


def servicenow_table(ticket_type: str | None) -> str:
    return "sc_req_item" if ticket_type == "service_request" else "incident"


def read_step(system: str, target: dict[str, Any]) -> Step:
    ref = target["external_id"]
    if system == "servicenow":
        return Step("read", "GET", f"/api/now/table/{target['table']}/{ref}"
                    "?sysparm_fields=assigned_to,assignment_group"
                    "&sysparm_exclude_reference_link=true")
    if system == "jira":
        return Step("read", "GET", f"/rest/api/3/issue/{ref}?fields=assignee")
    return Step("read", "GET", f"/api/v2/tickets/{ref}")


def current_assignee(system: str, body: dict[str, Any]) -> str | None:
    """Who the desk says has the ticket, from the answer to :func:`read_step`."""
    if system == "servicenow":
        value = (body.get("result") or {}).get("assigned_to")
        if isinstance(value, dict):
            value = value.get("value")
        return value or None
    if system == "jira":
        assignee = ((body.get("fields") or {}).get("assignee") or {})
        return assignee.get("accountId")
    value = (body.get("ticket") or {}).get("assignee_id")
    return None if value is None else str(value)


def _zendesk_id(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def write_steps(system: str, target: dict[str, Any]) -> list[Step]:
    """The writes, in order, for ``target`` ({external_id, user, group, note, table})."""
    ref, user, group, note = (target["external_id"], target["user"], target.get("group"),
                              target["note"])
    if system == "servicenow":
        body: dict[str, Any] = {"assigned_to": user, "work_notes": note}
        if group:
            body["assignment_group"] = group
        return [Step("assign", "PATCH", f"/api/now/table/{target['table']}/{ref}", body)]
    if system == "jira":
        comment = {"body": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": note}]}]},
            "properties": [{"key": "sd.public.comment", "value": {"internal": True}}]}
        return [Step("assign", "PUT", f"/rest/api/3/issue/{ref}/assignee", {"accountId": user}),
                Step("comment", "POST", f"/rest/api/3/issue/{ref}/comment", comment)]
    ticket: dict[str, Any] = {"assignee_id": _zendesk_id(user),
                              "comment": {"body": note, "public": False}}
    if group:
        ticket["group_id"] = _zendesk_id(group)
    return [Step("assign", "PUT", f"/api/v2/tickets/{ref}", {"ticket": ticket})]
