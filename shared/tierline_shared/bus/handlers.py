"""Which handler applies which event: one visible registry per service, keyed by event class.

A handler gets the events of a consumed batch that are new (the inbox dropped duplicates),
in the order they were read, inside the batch's unit of work. A handler registered with
:meth:`Handlers.each` is called once per event with the class it registered for; one
registered with :meth:`Handlers.batch` gets a run of events at once and can apply them with
set-based statements. Events of one ticket keep their order: :func:`plan` splits a batch
into runs so that no event is applied before an earlier event of the same key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from tierline_shared.bus.envelope import Envelope
from tierline_shared.bus.events import Event
from tierline_shared.unit_of_work import UnitOfWork

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Delivered(Generic[E]):
    """One event as consumed: the envelope (id, source, time), the topic it came from and
    the message's value as published (its JSON body), when it came from the broker."""

    envelope: Envelope
    topic: str = ""
    value: bytes | None = None

    @property
    def raw(self) -> str | None:
        return None if self.value is None else self.value.decode()

    @property
    def event(self) -> E:
        return cast(E, self.envelope.event)


EachHandler = Callable[[UnitOfWork, Delivered[E]], Awaitable[None]]
BatchHandler = Callable[[UnitOfWork, Sequence[Delivered[Any]]], Awaitable[None]]


def in_turn(*handlers: EachHandler[E]) -> EachHandler[E]:
    """One handler for a class that several features act on (a class has one handler):
    each of ``handlers`` in turn, in the same unit of work."""
    async def each_of(uow: UnitOfWork, delivered: Delivered[E]) -> None:
        for handler in handlers:
            await handler(uow, delivered)

    return each_of


class Handlers:
    """Event class -> handler. A class has at most one handler."""

    def __init__(self) -> None:
        self._by_type: dict[str, tuple[type[Event], BatchHandler]] = {}

    def each(self, cls: type[E], handler: EachHandler[E]) -> Handlers:
        async def one_by_one(uow: UnitOfWork, run: Sequence[Delivered[Any]]) -> None:
            for delivered in run:
                await handler(uow, delivered)

        one_by_one.__qualname__ = getattr(handler, "__qualname__", repr(handler))
        return self._add(cls, one_by_one)

    def batch(self, classes: Iterable[type[Event]], handler: BatchHandler) -> Handlers:
        """``handler`` gets runs mixing all of ``classes``, in order."""
        for cls in classes:
            self._add(cls, handler)
        return self

    def _add(self, cls: type[Event], handler: BatchHandler) -> Handlers:
        if cls.event_type in self._by_type:
            raise ValueError(f"{cls.__name__} has a handler already")
        self._by_type[cls.event_type] = (cls, handler)
        return self

    def handles(self, event_type: str) -> bool:
        return event_type in self._by_type

    def handler(self, event_type: str) -> BatchHandler:
        return self._by_type[event_type][1]

    @property
    def classes(self) -> list[type[Event]]:
        return [cls for cls, _ in self._by_type.values()]

    def plan(self, events: Sequence[Delivered[Any]]) -> list[tuple[BatchHandler,
                                                                   list[Delivered[Any]]]]:
        return plan(events, lambda d: self.handler(d.envelope.type))

    async def apply(self, uow: UnitOfWork, events: Sequence[Delivered[Any]]) -> None:
        for handler, run in self.plan(events):
            await handler(uow, run)


def plan(events: Sequence[Delivered[Any]],
         handler_of: Callable[[Delivered[Any]], BatchHandler]) -> list[
             tuple[BatchHandler, list[Delivered[Any]]]]:
    """Split ``events`` into as few runs as order allows, each for one handler.

    An event joins the last run of its handler when that run comes at or after the last run
    holding an earlier event of the same key (ticket); otherwise it starts a new run. Runs
    are applied in order, so a key's events are applied in the order they were read.
    """
    runs: list[tuple[BatchHandler, list[Delivered[Any]]]] = []
    last_run_of_handler: dict[int, int] = {}
    last_run_of_key: dict[bytes, int] = {}
    for delivered in events:
        handler = handler_of(delivered)
        key = delivered.envelope.key
        floor = last_run_of_key.get(key, -1)
        index = last_run_of_handler.get(id(handler), -1)
        if index < floor or index < 0:
            runs.append((handler, []))
            index = len(runs) - 1
            last_run_of_handler[id(handler)] = index
        runs[index][1].append(delivered)
        last_run_of_key[key] = index
    return runs
