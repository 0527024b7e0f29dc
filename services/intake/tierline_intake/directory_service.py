"""The directory's storage: upserts, bulk imports, and the profile and recent tickets a
new ticket is enriched with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.directory import effective_profile
from tierline_intake.models import REQUESTER_ID, accounts, customers, tickets
from tierline_shared.runtime import Runtime

RECENT_TICKETS = 5


async def upsert(runtime: Runtime, session: AsyncSession, table: Table,
                 records: list[dict[str, Any]]) -> dict[str, int]:
    """Insert or replace records by id; counts created and updated."""
    now = runtime.clock.now()
    created = 0
    for record in records:
        values = {**record, "updated_at": now}
        if table is accounts:
            values["vip"] = bool(values.get("vip"))
        statement = pg_insert(table).values(**values)
        inserted = await session.scalar(statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={k: statement.excluded[k] for k in values if k != "id"},
        ).returning(literal_column("(xmax = 0)")))  # true when the row is new
        created += int(bool(inserted))
    return {"imported": len(records), "created": created, "updated": len(records) - created}


async def get_row(session: AsyncSession, table: Table, row_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(table).where(table.c.id == row_id))).first()
    return dict(row._mapping) if row is not None else None


async def find_customer(session: AsyncSession, customer_id: str,
                        email: str | None = None) -> dict[str, Any] | None:
    """The customer by id, or else by email (a ticketing system's requester id rarely is
    the directory's)."""
    condition = customers.c.id == customer_id
    if email:
        condition = or_(condition, customers.c.email == email)
    rows = (await session.execute(select(customers).where(condition))).all()
    by_id = [r for r in rows if r.id == customer_id]
    chosen = by_id[0] if by_id else (rows[0] if rows else None)
    return dict(chosen._mapping) if chosen is not None else None


async def profile_of(runtime: Runtime, session: AsyncSession, customer_id: str,
                     email: str | None = None) -> dict[str, Any] | None:
    customer = await find_customer(session, customer_id, email)
    if customer is None:
        return None
    account = (await get_row(session, accounts, customer["account_id"])
               if customer["account_id"] else None)
    return effective_profile(customer, account, runtime.clock.now().date())


async def recent_tickets(session: AsyncSession, requester_ids: list[str],
                         limit: int = RECENT_TICKETS) -> list[dict[str, Any]]:
    rows = (await session.execute(select(
        tickets.c.id, tickets.c.title, tickets.c.status, tickets.c.priority,
        tickets.c.category, tickets.c.created_at).where(
        REQUESTER_ID.in_(requester_ids)).order_by(
        tickets.c.created_at.desc()).limit(limit))).all()
    return [{"id": str(r.id), "title": r.title, "status": r.status, "priority": r.priority,
             "category": r.category, "created_at": r.created_at.isoformat()} for r in rows]
