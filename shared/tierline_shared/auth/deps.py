"""The FastAPI side of keys: who is calling (401), may they (403), not too often (429)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader

from tierline_shared.auth.keys import SCOPES, acts_for, allows, hash_secret, parse, verify
from tierline_shared.auth.limits import SharedBuckets, TokenBuckets
from tierline_shared.auth.store import KeyCache

HEADER = "X-API-Key"
_header = APIKeyHeader(name=HEADER, auto_error=False,
                       description="an API key, tl_<id>_<secret> (`tierline keys create`)")


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    scopes: frozenset[str]
    agent_id: str | None = None


class Authenticator:
    def __init__(self, cache: KeyCache, limits: TokenBuckets | SharedBuckets,
                 bootstrap_key: str | None = None) -> None:
        self.cache = cache
        self.limits = limits
        parsed = parse(bootstrap_key) if bootstrap_key else None
        self.bootstrap = (parsed[0], hash_secret(parsed[1])) if parsed else None

    async def principal(self, key: str | None) -> Principal:
        parsed = parse(key) if key else None
        if parsed is None:
            raise _unauthorized("missing" if not key else "malformed")
        key_id, secret = parsed
        if self.bootstrap is not None and key_id == self.bootstrap[0]:
            if verify(secret, self.bootstrap[1]):
                return Principal(key_id, "bootstrap", frozenset({"admin"}))
            raise _unauthorized("unknown")
        record = await self.cache.get(key_id)
        if record is None or not verify(secret, record.key_hash):
            raise _unauthorized("unknown")
        if not record.usable_at(datetime.now(UTC)):
            raise _unauthorized("revoked or expired")
        return Principal(record.key_id, record.name, record.scopes, record.agent_id)


def _unauthorized(why: str) -> HTTPException:
    return HTTPException(401, detail={"error": "unauthorized",
                                      "detail": f"a valid API key is required in the {HEADER} "
                                                f"header ({why} key)"},
                         headers={"WWW-Authenticate": HEADER})


async def authenticate(request: Request,
                       key: Annotated[str | None, Security(_header)]) -> Principal:
    auth: Authenticator = request.app.state.auth
    principal = await auth.principal(key)
    limits = auth.limits
    wait = (await limits.take(principal.key_id) if isinstance(limits, SharedBuckets)
            else limits.take(principal.key_id, time.monotonic()))
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise HTTPException(429, detail={"error": "rate_limited",
                                         "detail": "too many requests for this key",
                                         "retry_after_s": retry},
                            headers={"Retry-After": str(retry)})
    request.state.principal = principal
    return principal


def forbidden(scope: str) -> HTTPException:
    return HTTPException(403, detail={"error": "forbidden", "scope": scope,
                                      "detail": f"this key lacks the {scope} scope"})


def not_this_agent(principal: Principal, agent_id: str) -> HTTPException | None:
    """403 when ``principal``'s key is bound to another agent than ``agent_id``."""
    if acts_for(principal.agent_id, agent_id):
        return None
    return HTTPException(403, detail={
        "error": "forbidden", "agent_id": agent_id,
        "detail": f"this key acts only for agent {principal.agent_id}"})


def check_agent(principal: Principal, agent_id: str) -> None:
    refused = not_this_agent(principal, agent_id)
    if refused is not None:
        raise refused


PrincipalDep = Annotated[Principal, Depends(authenticate)]
ANY_KEY = "any valid key"


async def _any_key(principal: PrincipalDep) -> Principal:
    return principal


_any_key.required_scope = ANY_KEY  # type: ignore[attr-defined]
# A route open to every valid key, whatever its scopes (still counted as guarded).
AnyKeyDep = Annotated[Principal, Depends(_any_key)]


async def refusal(request: Request, route: APIRoute) -> HTTPException | None:
    """What ``require`` would have answered for ``route``, or None if the caller may pass.

    FastAPI parses a JSON body before it runs the dependencies, so a malformed body would be
    answered 422 before the key is looked at; the validation handler asks this first, and a
    caller without a valid key learns nothing about the endpoint's schema."""
    scopes = route_scopes(route)
    if not scopes:
        return None
    principal = getattr(request.state, "principal", None)
    if principal is None:
        try:
            principal = await authenticate(request, request.headers.get(HEADER))
        except HTTPException as exc:
            return exc
    for scope in sorted(scopes - {ANY_KEY}):
        if not allows(principal.scopes, scope):
            return forbidden(scope)
    return None


def require(scope: str) -> Any:
    """``Depends`` that lets the request through only with a key holding ``scope``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not allows(principal.scopes, scope):
            raise forbidden(scope)
        return principal

    check.required_scope = scope  # type: ignore[attr-defined]
    return Depends(check)


def route_scopes(route: APIRoute) -> set[str]:
    found: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        scope = getattr(dependant.call, "required_scope", None)
        if scope:
            found.add(scope)
        pending.extend(dependant.dependencies)
    return found
