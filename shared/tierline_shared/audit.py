"""Who changed what: one audit entry per change to an entity (a ticket, an agent), written in
the change's own transaction, so there is no change without its entry and no entry without
its change.

An entry holds the entity, the action, the actor (the calling API key's name and id, or
``system:<service>`` for what a service does on an event or a timer), the service clock's
time and the changed fields only, as ``{field: {"before": ..., "after": ...}}``. Each
service keeps the entries in its own schema (``audit_table``); the mechanics live here once.

The actor travels with the session: an API entry point binds the caller with :func:`bind`
when it opens its transaction; a session nobody bound (consumer, periodic job) acts as the
service itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_shared import pagination
from tierline_shared.logging import mask_personal_data
from tierline_shared.pagination import fetch_page

if TYPE_CHECKING:
    from tierline_shared.runtime import Runtime

# Fields whose values are personal data: an entry records that they changed, never the value.
PERSONAL_FIELDS = frozenset({"email", "phone"})
REDACTED = "[redacted]"
_ACTOR = "tierline.audit.actor"


@dataclass(frozen=True)
class Actor:
    name: str
    key_id: str | None = None

    @classmethod
    def system(cls, service: str) -> Actor:
        return cls(f"system:{service}")


def bind(session: AsyncSession, actor: Actor) -> None:
    """Entries written in ``session`` name ``actor``."""
    session.info[_ACTOR] = actor


def actor_of(session: AsyncSession, service: str) -> Actor:
    actor = session.info.get(_ACTOR)
    return actor if isinstance(actor, Actor) else Actor.system(service)


# -- the diff: pure --------------------------------------------------------------------------

def diff(before: Mapping[str, Any], after: Mapping[str, Any], *,
         personal: frozenset[str] = PERSONAL_FIELDS) -> dict[str, dict[str, Any]]:
    """The fields that differ between two versions of a record, as
    ``{field: {"before": old, "after": new}}``. Nested mappings are compared field by field
    under dotted names (``skills.network``); a field missing on one side is None there, so
    ``diff({}, record)`` is a creation. Values come out JSON-ready; a field named in
    ``personal`` (at any depth) is shown as ``[redacted]`` on each side that has a value, and
    email addresses and phone numbers in any text are masked as in the logs."""
    out: dict[str, dict[str, Any]] = {}
    _walk(_plain(dict(before)), _plain(dict(after)), "", personal, out)
    return out


def _walk(before: dict[str, Any], after: dict[str, Any], prefix: str,
          personal: frozenset[str], out: dict[str, dict[str, Any]]) -> None:
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        name = f"{prefix}{key}"
        if isinstance(old, dict) and isinstance(new, dict) and key not in personal:
            _walk(old, new, f"{name}.", personal, out)
        elif old != new or type(old) is not type(new):
            out[name] = {"before": _masked(key, old, personal),
                         "after": _masked(key, new, personal)}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return _plain(value.value)
    return value


def _masked(key: str, value: Any, personal: frozenset[str]) -> Any:
    if value is None:
        return None
    if key in personal:
        return REDACTED
    if isinstance(value, dict):
        return {k: _masked(k, v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked("", v, personal) for v in value]
    return mask_personal_data(value)


# -- the table, the writer, the reader ------------------------------------------------------

def audit_table(metadata: MetaData) -> Table:
    """``audit_log`` in ``metadata``'s schema (the migration: ``create_audit_table``)."""
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("entity_type", String(32), nullable=False),
        Column("entity_id", String(200), nullable=False),
        Column("action", String(64), nullable=False),
        Column("actor_name", Text, nullable=False),
        Column("actor_key_id", String(64)),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("changes", JSONB, nullable=False),
        Index("audit_log_entity_idx", "entity_type", "entity_id", "id"),
    )


async def record(runtime: Runtime, session: AsyncSession, table: Table, *, entity_type: str,
                 entity_id: Any, action: str, changes: dict[str, dict[str, Any]]) -> bool:
    """Write one entry in the caller's transaction; nothing when nothing changed."""
    if not changes:
        return False
    from tierline_shared.unit_of_work import current

    actor = actor_of(session, runtime.spec.name)
    row = {"entity_type": entity_type, "entity_id": str(entity_id), "action": action,
           "actor_name": actor.name, "actor_key_id": actor.key_id, "at": runtime.clock.now(),
           "changes": changes}
    uow = current(session)
    if uow is not None:
        uow.add(table, row)
    else:
        await session.execute(insert(table).values(row))
    return True


class AuditActor(BaseModel):
    name: str = Field(description="the API key's name, or system:<service>")
    key_id: str | None = Field(description="the API key's id; null for the system")


class AuditEntry(BaseModel):
    id: int
    at: datetime
    action: str
    actor: AuditActor
    changes: dict[str, dict[str, Any]] = Field(
        description="the changed fields only: {field: {before, after}}; personal data "
                    "(emails, phone numbers) redacted")


class AuditPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "items": [{"id": 41, "at": "2026-11-25T09:12:00Z", "action": "priority_changed",
                   "actor": {"name": "service-desk", "key_id": "3f9a0c2b1d4e"},
                   "changes": {"priority": {"before": "P3", "after": "P2"}}}],
        "total": 1, "limit": 100, "offset": 0}]})
    items: list[AuditEntry]
    total: int
    limit: int
    offset: int


async def page(session: AsyncSession, table: Table, *, entity_type: str, entity_id: Any,
               limit: int, offset: int) -> dict[str, Any]:
    """An entity's entries, oldest first, with the total, as the other lists page."""
    rows, total = await fetch_page(session, select(table).where(
        table.c.entity_type == entity_type, table.c.entity_id == str(entity_id))
        .order_by(table.c.id), limit, offset)
    return pagination.page([{"id": r.id, "at": r.at.isoformat(), "action": r.action,
                             "actor": {"name": r.actor_name, "key_id": r.actor_key_id},
                             "changes": r.changes} for r in rows], total, limit, offset)
