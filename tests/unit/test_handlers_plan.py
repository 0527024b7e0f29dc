"""How a consumed batch is split into runs for the handlers (bus/handlers.py), without I/O:
each key's events stay in the order read, and runs of one handler are merged where no
key's order forbids it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import Event, TicketAssigned, TicketCreated, TicketStatusChanged
from tierline_shared.bus.handlers import BatchHandler, Delivered, Handlers, plan
from tierline_shared.unit_of_work import UnitOfWork

T0 = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def created(ticket: uuid.UUID) -> TicketCreated:
    return TicketCreated(ticket_id=ticket, ticket_type="incident", title="t", category="network",
                         priority="P3", impact="medium", urgency="medium", channel="portal",
                         requester_id="u-1", created_at=T0)


def assigned(ticket: uuid.UUID) -> TicketAssigned:
    return TicketAssigned(ticket_id=ticket, agent_id="a1", agent_tier=1, priority="P3",
                          category="network", channel="portal", assigned_at=T0)


def moved(ticket: uuid.UUID, frm: str = "new", to: str = "acknowledged") -> TicketStatusChanged:
    return TicketStatusChanged(ticket_id=ticket, ticket_type="incident", from_status=frm,
                               to_status=to, priority="P3", category="network",
                               channel="portal", changed_at=T0)


def delivered(event: Event) -> Delivered[Any]:
    return Delivered(Envelope.wrap(event, source="/test", time=T0), "t")


def handler_named(name: str) -> BatchHandler:
    async def handler(uow: UnitOfWork, run: Sequence[Delivered[Any]]) -> None:
        return None

    handler.__qualname__ = name
    return handler


H = {cls: handler_named(cls.__name__) for cls in (TicketCreated, TicketAssigned,
                                                  TicketStatusChanged)}


def by_class(d: Delivered[Any]) -> BatchHandler:
    return H[type(d.envelope.event)]


def names(runs: list[tuple[BatchHandler, list[Delivered[Any]]]]) -> list[tuple[str, int]]:
    return [(handler.__qualname__, len(run)) for handler, run in runs]


def test_one_handler_gets_the_whole_batch_in_the_order_read() -> None:
    events = [delivered(created(uuid.uuid4())) for _ in range(5)]
    runs = plan(events, by_class)
    assert names(runs) == [("TicketCreated", 5)]
    assert runs[0][1] == events


def test_events_of_other_tickets_join_an_earlier_run_of_their_handler() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [delivered(created(a)), delivered(moved(a)), delivered(created(b))]
    runs = plan(events, by_class)
    assert names(runs) == [("TicketCreated", 2), ("TicketStatusChanged", 1)]
    assert runs[0][1] == [events[0], events[2]]


def test_a_ticket_going_back_to_a_handler_starts_a_new_run() -> None:
    a = uuid.uuid4()
    events = [delivered(created(a)), delivered(moved(a)), delivered(assigned(a)),
              delivered(moved(a, "acknowledged", "in_progress"))]
    runs = plan(events, by_class)
    assert names(runs) == [("TicketCreated", 1), ("TicketStatusChanged", 1),
                           ("TicketAssigned", 1), ("TicketStatusChanged", 1)]
    assert [d for _, run in runs for d in run] == events


def test_a_later_ticket_joins_the_last_run_of_its_handler_not_an_earlier_one() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    events = [delivered(moved(a)), delivered(created(a)),
              delivered(moved(a, "acknowledged", "in_progress")), delivered(moved(b))]
    runs = plan(events, by_class)
    # a's second change cannot join the first status run (it would run before a's creation);
    # b's change joins the last status run rather than starting a fourth.
    assert names(runs) == [("TicketStatusChanged", 1), ("TicketCreated", 1),
                           ("TicketStatusChanged", 2)]


@pytest.mark.parametrize("seed", range(20))
def test_random_batches_keep_each_tickets_order_and_merge_adjacent_runs(seed: int) -> None:
    rng = random.Random(seed)
    tickets = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(rng.randint(1, 8))]
    makers = [created, assigned, moved]
    events = [delivered(rng.choice(makers)(rng.choice(tickets)))
              for _ in range(rng.randint(1, 60))]
    runs = plan(events, by_class)
    flat = [d for _, run in runs for d in run]
    assert sorted(id(d) for d in flat) == sorted(id(d) for d in events)  # each once
    for ticket in tickets:
        key = str(ticket).encode()
        assert [d for d in flat if d.envelope.key == key] == \
            [d for d in events if d.envelope.key == key]
    for handler, run in runs:
        assert run and all(by_class(d) is handler for d in run)
    for (first, _), (second, _) in zip(runs, runs[1:], strict=False):
        assert first is not second  # a run never follows one of the same handler
    assert len(runs) <= len(events)
    # Merged: never more runs than stretches of one handler along the batch as read.
    changes = 1 + sum(by_class(x) is not by_class(y) for x, y in zip(events, events[1:],
                                                                      strict=False))
    assert len(runs) <= changes


async def test_handlers_apply_gives_each_handler_its_class_in_planned_runs() -> None:
    seen: list[tuple[str, list[str]]] = []

    async def on_created(uow: UnitOfWork, d: Delivered[TicketCreated]) -> None:
        assert type(d.event) is TicketCreated
        seen.append(("created", [d.event.title]))

    async def on_changes(uow: UnitOfWork, run: Sequence[Delivered[Any]]) -> None:
        seen.append(("changes", [type(d.event).__name__ for d in run]))

    registry = (Handlers().each(TicketCreated, on_created)
                .batch([TicketAssigned, TicketStatusChanged], on_changes))
    a, b = uuid.uuid4(), uuid.uuid4()
    await registry.apply(cast(UnitOfWork, None), [
        delivered(created(a)), delivered(assigned(a)), delivered(created(b)),
        delivered(moved(b)), delivered(moved(a))])
    assert seen == [("created", ["t"]), ("created", ["t"]),
                    ("changes", ["TicketAssigned", "TicketStatusChanged",
                                 "TicketStatusChanged"])]
    assert registry.handles(TicketCreated.event_type)
    assert not registry.handles("tierline.ticket.survey_answered.v1")


def test_a_class_has_one_handler() -> None:
    async def one(uow: UnitOfWork, d: Delivered[TicketCreated]) -> None:
        return None

    registry = Handlers().each(TicketCreated, one)
    with pytest.raises(ValueError, match="TicketCreated has a handler already"):
        registry.each(TicketCreated, one)
