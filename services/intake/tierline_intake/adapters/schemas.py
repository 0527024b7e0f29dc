"""The desk adapters API's response bodies and the desks' example payloads."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from tierline_intake.tickets.schemas import TICKET_OUT_EXAMPLE, TicketOut

EXAMPLES: dict[str, dict[str, Any]] = {
    "servicenow": {"result": {
        "sys_id": "9d385017c611228701d22104cc95c371", "number": "INC0010021",
        "short_description": "Email server is down", "description": "Nobody can send mail",
        "caller_id": {"link": "https://acme.service-now.com/api/now/table/sys_user/"
                              "5137153cc611227c000bbd1bd8cd2005",
                      "value": "5137153cc611227c000bbd1bd8cd2005"},
        "impact": "1", "urgency": "1", "priority": "1", "state": "2",
        "category": "software", "contact_type": "phone",
        "sys_updated_on": "2026-11-24 09:10:00"}},
    "jira": {"timestamp": 1764000000000, "webhookEvent": "jira:issue_created",
             "issue": {"id": "10042", "key": "SUP-17", "fields": {
                 "summary": "VPN keeps disconnecting", "description": "Drops every 5 minutes",
                 "issuetype": {"name": "Incident"}, "priority": {"name": "High"},
                 "status": {"name": "Waiting for support",
                            "statusCategory": {"key": "new"}},
                 "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5",
                              "displayName": "Ada Park"},
                 "components": [{"name": "Network"}],
                 "updated": "2026-11-24T09:10:00.000+0000"}}},
    "zendesk": {"ticket": {
        "id": 35436, "subject": "Printer on floor 3 jams", "description": "Paper jam again",
        "priority": "normal", "status": "open", "type": "incident",
        "requester_id": 20978392, "via": {"channel": "web"}, "tags": ["hardware"],
        "updated_at": "2026-11-24T09:10:00Z"}},
}


class UnmappedOut(BaseModel):
    path: str
    value: str
    reason: str


class AdapterOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "system": "jira", "external_id": "10042", "key": "SUP-17",
        "external_status": "Waiting for support", "outcome": "created", "changes": [],
        "unmapped": [], "ticket": TICKET_OUT_EXAMPLE}]})
    system: str
    external_id: str
    key: str
    external_status: str
    outcome: str
    changes: list[dict[str, Any]]
    unmapped: list[UnmappedOut]
    ticket: TicketOut


class UnmappedStatus(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "system": "servicenow", "external_id": "9d385017c611228701d22104cc95c371",
        "key": "INC0010021", "ticket_id": TICKET_OUT_EXAMPLE["id"],
        "external_status": "8 - Canceled", "updated_at": "2026-11-24T09:10:00Z"}]})
    system: str
    external_id: str
    key: str
    ticket_id: str
    external_status: str
    updated_at: str
