"""A requester was erased: router keeps no requester, but its notes on the ticket (history
details, assignment reasons, the queue's reason) lose any string intake names by digest."""

from __future__ import annotations

from tierline_router.models import assignments, history, queue
from tierline_shared.bus.events import TicketRequesterErased
from tierline_shared.bus.handlers import Delivered
from tierline_shared.erasure import rewrite_rows
from tierline_shared.unit_of_work import UnitOfWork


async def on_requester_erased(uow: UnitOfWork, d: Delivered[TicketRequesterErased]) -> None:
    event = d.event
    swap, tid = event.replacements, event.ticket_id
    await rewrite_rows(uow.session, history, history.c.ticket_id == tid,
                       [history.c.detail], swap)
    await rewrite_rows(uow.session, assignments, assignments.c.ticket_id == tid,
                       [assignments.c.reasons], swap)
    await rewrite_rows(uow.session, queue, queue.c.ticket_id == tid, [queue.c.reason], swap)
