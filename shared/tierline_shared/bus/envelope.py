"""CloudEvents 1.0 in Kafka's binary content mode: attributes in ``ce_*`` headers,
the event body as JSON in the message value, the ticket id as the message key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID, uuid4

from pydantic import ValidationError

from tierline_shared.bus.events import EVENT_TYPES, Event

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_specversion")

Headers = list[tuple[str, bytes]]


class InvalidMessage(ValueError):
    """A message that can never be processed: it goes to the dead-letter topic."""


@dataclass(frozen=True)
class Envelope:
    id: UUID
    source: str
    time: datetime
    event: Event

    @property
    def type(self) -> str:
        return self.event.event_type

    @property
    def subject(self) -> str:
        return self.event.subject

    @property
    def key(self) -> bytes:
        return self.subject.encode()

    @classmethod
    def wrap(cls, event: Event, *, source: str, time: datetime) -> Envelope:
        return cls(id=uuid4(), source=source, time=time, event=event)

    def headers(self) -> Headers:
        return [
            ("ce_specversion", SPECVERSION.encode()),
            ("ce_id", str(self.id).encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_time", self.time.isoformat().encode()),
            ("ce_subject", self.subject.encode()),
            ("content-type", CONTENT_TYPE.encode()),
        ]

    def body(self) -> bytes:
        return self.event.model_dump_json().encode()


def decode(headers: Headers | None, value: bytes | None) -> Envelope:
    """Validate a Kafka message into an envelope, or raise :class:`InvalidMessage`."""
    attrs: dict[str, str] = {}
    for name, raw in headers or ():
        try:
            attrs[name] = raw.decode() if raw is not None else ""
        except UnicodeDecodeError as exc:
            raise InvalidMessage(f"header {name} is not UTF-8") from exc
    missing = [name for name in REQUIRED if not attrs.get(name)]
    if missing:
        raise InvalidMessage(f"missing CloudEvents headers: {', '.join(missing)}")
    if attrs["ce_specversion"] != SPECVERSION:
        raise InvalidMessage(f"unsupported ce_specversion {attrs['ce_specversion']!r}")
    model = EVENT_TYPES.get(attrs["ce_type"])
    if model is None:
        raise InvalidMessage(f"unknown ce_type {attrs['ce_type']!r}")
    try:
        event_id = UUID(attrs["ce_id"])
    except ValueError as exc:
        raise InvalidMessage(f"ce_id {attrs['ce_id']!r} is not a UUID") from exc
    try:
        time = datetime.fromisoformat(attrs["ce_time"]) if attrs.get("ce_time") else None
    except ValueError as exc:
        raise InvalidMessage(f"ce_time {attrs['ce_time']!r} is not an ISO 8601 time") from exc
    if value is None:
        raise InvalidMessage("message has no body")
    try:
        event = model.model_validate_json(value)
    except ValidationError as exc:
        raise InvalidMessage(f"body does not match {model.event_type}: {exc}") from exc
    if attrs.get("ce_subject") and attrs["ce_subject"] != event.subject:
        raise InvalidMessage("ce_subject does not match the body's ticket_id")
    if time is None:
        raise InvalidMessage("missing ce_time header")
    return Envelope(id=event_id, source=attrs["ce_source"], time=time, event=event)
