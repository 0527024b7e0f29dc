"""Arrivals per interval from metrics' read model: the history forecasts start from."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_metrics.models import ticket_facts


async def arrivals(session: AsyncSession, *, start: datetime, end: datetime,
                   interval_minutes: int, channel: str | None = None,
                   ticket_type: str | None = None) -> list[float]:
    """Tickets logged per interval in [start, end), zero-filled."""
    seconds = interval_minutes * 60
    f = ticket_facts.c
    index = func.floor(func.extract("epoch", f.created_at - start) / seconds)
    query = (select(index.label("i"), func.count()).where(f.created_at >= start,
                                                          f.created_at < end)
             .group_by("i"))
    if channel is not None:
        query = query.where(f.channel == channel)
    if ticket_type is not None:
        query = query.where(f.ticket_type == ticket_type)
    size = int((end - start) / timedelta(seconds=seconds))
    counts = [0.0] * size
    for i, n in (await session.execute(query)).all():
        if 0 <= int(i) < size:
            counts[int(i)] = float(n)
    return counts
