"""The directory's storage: upserts, bulk imports, and the profile and recent tickets a
new ticket is enriched with."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Select, Table, bindparam, case, literal, literal_column, or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.directory.domain import effective_profile
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


_RECENT_COLUMNS = ("id", "title", "status", "priority", "category", "created_at")


@functools.cache
def _requester_query(by_email: bool, limit: int) -> Select[Any]:
    """The statement ``requester_context`` sends, built once per form (with or without an
    email) with the requester as bind parameters: building the lateral joins' column
    collections cost more CPU per ticket than running the statement."""
    customer_id = bindparam("customer_id", type_=customers.c.id.type)
    condition = customers.c.id == customer_id
    if by_email:
        condition = or_(condition, customers.c.email == bindparam("email",
                                                                   type_=customers.c.email.type))
    customer = (select(customers).where(condition)
                .order_by(case((customers.c.id == customer_id, 0), else_=1)).limit(1)
                .lateral("customer"))
    recent = (select(*(tickets.c[name] for name in _RECENT_COLUMNS))
              .where(REQUESTER_ID.in_([customer_id, customer.c.id]))
              .order_by(tickets.c.created_at.desc()).limit(limit).lateral("recent"))
    one = select(literal(1).label("one")).subquery("one")
    return (select(*(c.label(f"c_{c.name}") for c in customer.c),
                   *(accounts.c[c.name].label(f"a_{c.name}") for c in accounts.c),
                   *(recent.c[name].label(f"t_{name}") for name in _RECENT_COLUMNS))
            .select_from(one.outerjoin(customer, true())
                         .outerjoin(accounts, accounts.c.id == customer.c.account_id)
                         .outerjoin(recent, true())))


async def requester_context(runtime: Runtime, session: AsyncSession, customer_id: str,
                            email: str | None = None,
                            limit: int = RECENT_TICKETS) -> tuple[dict[str, Any] | None,
                                                                  list[dict[str, Any]]]:
    """``profile_of`` and ``recent_tickets`` of a new ticket's requester in one statement:
    the customer (by id, or else by email), its account, and the latest tickets of the
    requester id and of the customer found, one row per ticket (at least one row)."""
    params = {"customer_id": customer_id, **({"email": email} if email else {})}
    query = _requester_query(bool(email), limit)
    rows = [row._mapping for row in (await session.execute(query, params)).all()]
    first = rows[0]
    profile = None
    if first["c_id"] is not None:
        found = {c.name: first[f"c_{c.name}"] for c in customers.c}
        account = ({c.name: first[f"a_{c.name}"] for c in accounts.c}
                   if first["a_id"] is not None else None)
        profile = effective_profile(found, account, runtime.clock.now().date())
    tickets_out = [{"id": str(r["t_id"]), "title": r["t_title"], "status": r["t_status"],
                    "priority": r["t_priority"], "category": r["t_category"],
                    "created_at": r["t_created_at"].isoformat()}
                   for r in rows if r["t_id"] is not None]
    return profile, tickets_out
