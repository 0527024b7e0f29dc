"""API keys in PostgreSQL, and a short per-process cache of what was read."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tierline_shared.auth.keys import (
    KeyRecord,
    NewKey,
    generate,
    validate_agent,
    validate_scopes,
)
from tierline_shared.auth.models import api_keys


def _record(row: Any) -> KeyRecord:
    return KeyRecord(key_id=row.id, name=row.name, key_hash=row.key_hash,
                     scopes=frozenset(row.scopes), expires_at=row.expires_at,
                     revoked_at=row.revoked_at, agent_id=row.agent_id)


async def create_key(session: AsyncSession, *, name: str, scopes: list[str], now: datetime,
                     created_by: str, expires_at: datetime | None = None,
                     replaces: str | None = None, agent_id: str | None = None
                     ) -> tuple[NewKey, dict[str, Any]]:
    chosen = sorted(validate_scopes(scopes))
    validate_agent(agent_id)
    new = generate()
    row = {"id": new.key_id, "name": name, "key_hash": new.key_hash, "scopes": chosen,
           "created_at": now, "created_by": created_by, "expires_at": expires_at,
           "revoked_at": None, "replaces": replaces, "agent_id": agent_id}
    await session.execute(api_keys.insert().values(**row))
    return new, row


async def get_key(session: AsyncSession, key_id: str) -> dict[str, Any] | None:
    row = (await session.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
    return dict(row._mapping) if row else None


async def list_keys(session: AsyncSession, limit: int, offset: int
                    ) -> tuple[list[dict[str, Any]], int]:
    rows = (await session.execute(select(api_keys).order_by(api_keys.c.created_at,
                                                            api_keys.c.id)
                                  .limit(limit).offset(offset))).all()
    total = (await session.execute(select(func.count()).select_from(api_keys))).scalar_one()
    return [dict(r._mapping) for r in rows], int(total)


async def revoke_key(session: AsyncSession, key_id: str, now: datetime) -> dict[str, Any] | None:
    await session.execute(update(api_keys).where(api_keys.c.id == key_id,
                                                 api_keys.c.revoked_at.is_(None))
                          .values(revoked_at=now))
    return await get_key(session, key_id)


async def rotate_key(session: AsyncSession, key_id: str, *, now: datetime, created_by: str,
                     old_valid_for: timedelta, expires_at: datetime | None
                     ) -> tuple[NewKey, dict[str, Any]] | None:
    """A new key with the old one's name, scopes and agent; the old one stays valid a
    while."""
    old = await get_key(session, key_id)
    if old is None or old["revoked_at"] is not None:
        return None
    until = now + old_valid_for
    if old["expires_at"] is None or old["expires_at"] > until:
        await session.execute(update(api_keys).where(api_keys.c.id == key_id)
                              .values(expires_at=until))
    return await create_key(session, name=old["name"], scopes=old["scopes"], now=now,
                            created_by=created_by, expires_at=expires_at, replaces=key_id,
                            agent_id=old["agent_id"])


class KeyCache:
    """What this process read about each key id, trusted for ``ttl_s`` seconds.

    Unknown ids are remembered too, so a stream of bad keys costs one query per id and ttl.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float,
                 max_entries: int = 10_000) -> None:
        self.sessions = sessions
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}

    async def get(self, key_id: str) -> KeyRecord | None:
        now = time.monotonic()
        hit = self._entries.get(key_id)
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        async with self.sessions() as session:
            row = (await session.execute(select(api_keys).where(api_keys.c.id == key_id))
                   ).first()
        record = _record(row) if row else None
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key_id] = (now, record)
        return record
