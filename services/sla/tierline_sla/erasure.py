"""A requester was erased: sla's copy of the ticket (title, requester id) and its history
lose the personal data intake names by digest. Clocks, counts and escalations stay; the
requester id becomes the person's pseudonym on all their tickets, so repeat contacts from
one requester are still counted as one requester's."""

from __future__ import annotations

from tierline_shared.bus.events import TicketRequesterErased
from tierline_shared.bus.handlers import Delivered
from tierline_shared.erasure import rewrite_rows
from tierline_shared.unit_of_work import UnitOfWork
from tierline_sla.models import escalations, history, tickets


async def on_requester_erased(uow: UnitOfWork, d: Delivered[TicketRequesterErased]) -> None:
    event = d.event
    swap, tid = event.replacements, event.ticket_id
    await rewrite_rows(uow.session, tickets, tickets.c.ticket_id == tid,
                       [tickets.c.title, tickets.c.requester_id], swap)
    await rewrite_rows(uow.session, history, history.c.ticket_id == tid,
                       [history.c.detail], swap)
    await rewrite_rows(uow.session, escalations, escalations.c.ticket_id == tid,
                       [escalations.c.reason], swap)
