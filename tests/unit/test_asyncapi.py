from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import jsonschema
import yaml

from tierline_shared.bus.asyncapi import document, render
from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import EVENT_TYPES, TicketAssigned

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def test_committed_document_matches_the_code() -> None:
    assert DOC.read_text() == render(), "run: .venv/bin/tierline asyncapi > docs/asyncapi.yaml"


def test_every_event_type_is_published_on_a_channel() -> None:
    messages = document()["components"]["messages"]
    assert {m["name"] for m in messages.values()} >= set(EVENT_TYPES)
    for channel in document()["channels"].values():
        for ref in channel["messages"].values():
            assert ref["$ref"].removeprefix("#/components/messages/") in messages


def test_a_real_event_validates_against_its_published_schema() -> None:
    now = datetime.now(UTC)
    event = TicketAssigned(ticket_id=uuid4(), agent_id="a1", agent_tier=1, priority="P2",
                           category="network", channel="chat", assigned_at=now,
                           reasons={"rule": "r"})
    envelope = Envelope.wrap(event, source="/tierline/router", time=now)
    message = yaml.safe_load(DOC.read_text())["components"]["messages"]["TicketAssigned"]
    jsonschema.validate(event.model_dump(mode="json"), message["payload"])
    jsonschema.validate({k: v.decode() for k, v in envelope.headers()}, message["headers"])
    wrong = {k: v.decode() for k, v in envelope.headers()} | {"ce_type": "other"}
    try:
        jsonschema.validate(wrong, message["headers"])
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a wrong ce_type must not validate")
