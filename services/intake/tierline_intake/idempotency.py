"""``Idempotency-Key`` for every POST: the key, its request's hash and the response are
stored in the same transaction as the effect, so a retry gets the same answer and never a
second effect; the same key with another body is refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.models import idempotency_keys
from tierline_shared import audit
from tierline_shared.runtime import Runtime

Effect = Callable[[AsyncSession], Awaitable[tuple[int, dict[str, Any]]]]


class KeyReused(Exception):
    """The key was used before with a different request."""


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _stored(session: AsyncSession, key: str, scope: str,
                  digest: str) -> tuple[int, dict[str, Any]] | None:
    row = (await session.execute(select(idempotency_keys).where(
        idempotency_keys.c.key == key, idempotency_keys.c.scope == scope))).first()
    if row is None:
        return None
    if row.request_hash != digest:
        raise KeyReused(key)
    return row.status_code, row.response


async def run_once(runtime: Runtime, *, key: str | None, scope: str, payload: Any,
                   actor: audit.Actor, effect: Effect, look_first: bool = True,
                   one_statement: bool = False) -> tuple[int, dict[str, Any], bool]:
    """Run ``effect`` in a transaction, once per key, as ``actor`` (the audit log's who);
    returns (status, body, replayed).

    The key is claimed in the effect's own transaction, after the effect, with the unit of
    work's rows at commit (the same statement: no round trip of its own); a concurrent
    request's insert waits for this one to commit or roll back, and a key already taken fails
    the whole statement, so the effect is never committed twice. With ``look_first`` a stored
    response is looked up first in a transaction of its own (three round trips), so a retry
    never runs the effect again. Without it, for an effect that only writes in the database
    (logging a ticket), a first request (the common case) sends nothing for its key; a retry
    runs the effect, finds the key taken, rolls back and answers the stored response, and a
    failing retry answers the stored response or ``KeyReused`` as a look-up first would
    have. ``one_statement``: the effect only reads before the unit of work writes, so the
    key, the effect's rows and its events go in one statement without BEGIN and COMMIT
    (``unit_of_work.transaction``)."""
    digest = request_hash(payload)
    if key is not None and look_first:
        async with runtime.sessions() as session:
            stored = await _stored(session, key, scope, digest)
        if stored is not None:
            return stored[0], stored[1], True
    try:
        async with runtime.transaction(actor, one_statement=one_statement) as uow:
            status, body = await effect(uow.session)
            if key is not None:
                uow.add(idempotency_keys, {
                    "key": key, "scope": scope, "request_hash": digest, "status_code": status,
                    "response": body, "created_at": runtime.clock.now()})
    except IntegrityError:
        # Taken (by an earlier request, or a concurrent one that committed first): replay.
        if key is None:
            raise
        async with runtime.sessions() as session:
            stored = await _stored(session, key, scope, digest)
        if stored is None:
            raise
        return stored[0], stored[1], True
    except Exception:
        if key is None or look_first:
            raise
        async with runtime.sessions() as session:
            stored = await _stored(session, key, scope, digest)  # KeyReused first
        if stored is None:
            raise
        return stored[0], stored[1], True
    return status, body, False
