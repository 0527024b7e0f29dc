"""The AsyncAPI 3.0 document of Tierline's topics, generated from the event models."""

from __future__ import annotations

from typing import Any

import yaml

from tierline_shared.bus.events import (
    AgentPresenceChanged,
    Event,
    InteractionOccurred,
    MajorIncidentChanged,
    MajorIncidentDeclared,
    MajorIncidentTicketLinked,
    MajorIncidentUpdateDue,
    ProblemIdentified,
    ProblemWorkaroundRecorded,
    ReassignmentRequested,
    SlaBreached,
    SlaClockStarted,
    SlaWarning,
    SurveyAnswered,
    SurveyRequested,
    TicketAssigned,
    TicketCommented,
    TicketContactLinked,
    TicketCreated,
    TicketDeskAssigneeChanged,
    TicketEscalated,
    TicketOfferAnswered,
    TicketPriorityChanged,
    TicketQueued,
    TicketRequesterErased,
    TicketStatusChanged,
    VoiceOfCustomerSignal,
)
from tierline_shared.bus.topics import Topics

# Which events each topic carries, and who writes them.
TICKET_EVENTS: list[type[Event]] = [TicketCreated, TicketStatusChanged, TicketPriorityChanged,
                                    TicketCommented,
                                    ReassignmentRequested, SurveyRequested, SurveyAnswered,
                                    TicketContactLinked, TicketRequesterErased,
                                    TicketDeskAssigneeChanged]
CHANNELS: dict[str, tuple[str, str, list[type[Event]]]] = {
    "incidents": ("intake", "Incidents: creation and every lifecycle event, keyed by ticket "
                  "id, in order per ticket.", TICKET_EVENTS),
    "requests": ("intake", "Service requests, apart from incidents so neither delays the "
                 "other: creation and every lifecycle event, keyed by ticket id.",
                 TICKET_EVENTS),
    "routing": ("router", "Routing decisions, keyed by ticket id.",
                [TicketAssigned, TicketOfferAnswered, TicketQueued]),
    "sla": ("sla", "SLA clocks, warnings, breaches and escalations keyed by ticket id; major "
                   "incidents keyed by their id; problems keyed by their id.",
            [SlaClockStarted, SlaWarning, SlaBreached, TicketEscalated, MajorIncidentDeclared,
             MajorIncidentTicketLinked, MajorIncidentUpdateDue, MajorIncidentChanged,
             ProblemIdentified, ProblemWorkaroundRecorded]),
    "agents": ("router", "Agent presence changes, keyed by agent id. A telephony or chat "
               "platform may produce presence changes here too (with its own ce_source): "
               "router applies them as it applies PUT /v1/agents/{id}/presence.",
               [AgentPresenceChanged]),
    "interactions": ("fronts", "Customer contacts from chat and IVR front ends (started, "
                     "messages, IVR menu path, self-service outcome, hand-off to another "
                     "channel, ended, CSAT), keyed by interaction id; intake consumes them.",
                     [InteractionOccurred]),
    "metrics": ("metrics", "Voice-of-the-customer signals (spikes per category, subcategory "
                "or product, growth of how-do-I contacts, escalation clusters), keyed by "
                "dimension and key.", [VoiceOfCustomerSignal]),
}

# Message keys other than the ticket id.
KEYS: dict[type[Event], dict[str, Any]] = {
    AgentPresenceChanged: {"type": "string", "description": "the agent id"},
    InteractionOccurred: {"type": "string", "description": "the interaction id"},
    VoiceOfCustomerSignal: {"type": "string", "description": "the signal's dimension and "
                            "key"},
}

CE_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "format": "uuid", "description": "unique per event; "
                  "consumers skip ids they have processed"},
        "ce_source": {"type": "string", "examples": ["/tierline/intake"]},
        "ce_type": {"type": "string", "description": "event type, versioned by name"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "the ticket id (or the agent id on "
                       "the agents topic)"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}

DLQ_HEADERS: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": "string", "description": text} for name, text in {
        "dlq_error": "why the message could not be processed",
        "dlq_consumer": "the service that gave up on it",
        "dlq_topic": "where it was read from",
        "dlq_partition": "its partition there",
        "dlq_offset": "its offset there",
        "dlq_attempts": "processing attempts made (0: it failed validation)",
    }.items()},
}


def _message_name(model: type[Event]) -> str:
    return model.__name__


def document(topics: Topics | None = None) -> dict[str, Any]:
    topics = topics or Topics()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel, (producer, description, models) in CHANNELS.items():
        if channel == "requests":  # the same messages as incidents, on their own topic
            channels[channel] = {**channels["incidents"], "address": topics.requests,
                                 "description": f"{description} Written by {producer}."}
            operations[f"{producer}PublishesRequests"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
            continue
        channels[channel] = {
            "address": getattr(topics, channel),
            "description": f"{description} Written by {producer}.",
            "messages": {_message_name(m): {"$ref": f"#/components/messages/{_message_name(m)}"}
                         for m in models},
        }
        operations[f"{producer}Publishes{channel.title()}"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{channel}"}}
        for model in models:
            schema = model.model_json_schema()
            messages[_message_name(model)] = {
                "name": model.event_type,
                "title": model.__name__,
                "summary": (model.__doc__ or model.event_type).strip(),
                "contentType": "application/json",
                "headers": {**CE_HEADERS, "properties": {
                    **CE_HEADERS["properties"],
                    "ce_type": {"type": "string", "const": model.event_type}}},
                "payload": schema,
                "bindings": {"kafka": {"key": KEYS.get(
                    model, {"type": "string", "format": "uuid",
                            "description": "the ticket id"})}},
            }
    channels["deadletter"] = {
        "address": topics.deadletter,
        "description": "Messages a consumer could not validate or process: the original key, "
                       "value and headers, plus dlq_* headers saying why.",
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
    }
    messages["DeadLetter"] = {"name": "dead-letter", "headers": DLQ_HEADERS,
                              "payload": {"description": "the original message value, as is"}}
    operations["consumersPublishDeadLetters"] = {
        "action": "send", "channel": {"$ref": "#/channels/deadletter"}}
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Tierline events", "version": "0.1.0",
                 "description": "CloudEvents 1.0 in Kafka's binary content mode: attributes in "
                                "ce_* headers, a JSON body, the ticket id as the key."},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(topics: Topics | None = None) -> str:
    return yaml.safe_dump(document(topics), sort_keys=False, width=100)
