"""The consuming side of a requester's erasure, shared by router, sla and metrics: rewrite
the stored strings a ``TicketRequesterErased`` names (by digest) in one table's rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared.privacy import apply_replacements
from tierline_shared.unit_of_work import current


async def rewrite_rows(session: AsyncSession, table: Table, where: Any,
                       columns: list[Column[Any]], replacements: dict[str, str]) -> int:
    """Replace, in ``columns`` (text or JSON) of the rows matching ``where``, every string
    whose digest ``replacements`` lists; returns how many rows changed."""
    if not replacements:
        return 0
    uow = current(session)
    if uow is not None:  # rows it holds for commit (history of this batch) are rewritten too
        await uow.flush()
    keys = [c for c in table.primary_key.columns]
    rows = (await session.execute(select(*keys, *columns).where(where))).all()
    changed = 0
    for row in rows:
        values = {}
        for column in columns:
            old = row._mapping[column]
            if old is None:
                continue
            new = apply_replacements(old, replacements)
            if new != old:
                values[column.name] = new
        if values:
            await session.execute(update(table).where(
                *(k == row._mapping[k] for k in keys)).values(**values))
            changed += 1
    return changed
