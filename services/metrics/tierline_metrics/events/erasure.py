"""A requester was erased: the ticket's logged events (``ticket_log``, what reports fold)
lose the personal data intake names by digest. Only strings change: the requester id
becomes the person's pseudonym on all their tickets (repeat contacts, so first-contact
resolution, still match), survey comments and notes lose the person's words; every
number, status and instant stays, so every figure is the same before and after."""

from __future__ import annotations

from tierline_metrics.models import ticket_log
from tierline_shared.bus.events import TicketRequesterErased
from tierline_shared.bus.handlers import Delivered
from tierline_shared.erasure import rewrite_rows
from tierline_shared.unit_of_work import UnitOfWork


async def on_requester_erased(uow: UnitOfWork, d: Delivered[TicketRequesterErased]) -> None:
    event = d.event
    await rewrite_rows(uow.session, ticket_log, ticket_log.c.ticket_id == event.ticket_id,
                       [ticket_log.c.body], event.replacements)
