"""Admin endpoints for API keys, on every service: create, list, revoke, rotate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from tierline_shared.auth.deps import AnyKeyDep, Principal, require
from tierline_shared.auth.keys import AGENT_ID, SCOPES
from tierline_shared.auth.store import create_key, list_keys, revoke_key, rotate_key
from tierline_shared.web import RuntimeDep

router = APIRouter(prefix="/v1/keys", tags=["keys"])
KeyId = Annotated[str, Path(pattern=r"^[0-9a-f]{12}$")]
Admin = Annotated[Principal, require("admin")]
_EXAMPLE = {"id": "3f9a0c1d2e4b", "name": "ops", "scopes": ["admin"],
            "created_at": "2026-11-25T09:00:00Z", "created_by": "bootstrap",
            "expires_at": None, "revoked_at": None, "replaces": None, "agent_id": None}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"name": "portal", "scopes": ["tickets:write"], "expires_days": 90},
                     {"name": "ana", "scopes": ["agents:write", "tickets:read"],
                      "agent_id": "ana"}]})
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=100)]
    scopes: list[Annotated[str, StringConstraints(pattern="^(" + "|".join(SCOPES) + ")$")]] \
        = Field(min_length=1, max_length=len(SCOPES), description=", ".join(SCOPES))
    expires_days: int | None = Field(default=None, ge=1, le=3650)
    agent_id: Annotated[str, StringConstraints(pattern=AGENT_ID.pattern)] | None = Field(
        default=None, description="bind the key to this agent: it then answers offers and "
        "sets presence for this agent only")


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"old_valid_for_s": 3600, "expires_days": 90}]})
    old_valid_for_s: int = Field(default=3600, ge=0, le=30 * 86400,
                                 description="how long the old key keeps working")
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class KeyOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})
    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    replaces: str | None
    agent_id: str | None = None


class NewKeyOut(KeyOut):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {**_EXAMPLE, "key": "tl_3f9a0c1d2e4b_" + "0" * 48}]})
    key: str = Field(description="the key itself: shown once, stored only as a hash")


class KeyPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_EXAMPLE], "total": 1, "limit": 50, "offset": 0}]})
    items: list[KeyOut]
    total: int
    limit: int
    offset: int


def _out(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "key_hash"}


@router.post("", status_code=201, response_model=NewKeyOut)
async def create(body: KeyIn, runtime: RuntimeDep, who: Admin) -> dict[str, Any]:
    now = datetime.now(UTC)
    expires = now + timedelta(days=body.expires_days) if body.expires_days else None
    async with runtime.transaction() as uow:
        new, row = await create_key(uow.session, name=body.name, scopes=body.scopes, now=now,
                                    created_by=who.name, expires_at=expires,
                                    agent_id=body.agent_id)
    return {**_out(row), "key": new.plaintext}


class WhoAmI(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": "3f9a0c1d2e4b", "name": "ana", "scopes": ["agents:write", "tickets:read"],
         "agent_id": "ana"}]})
    id: str
    name: str
    scopes: list[str]
    agent_id: str | None


@router.get("/me", response_model=WhoAmI)
async def me(who: AnyKeyDep) -> dict[str, Any]:
    """The calling key's name, scopes and agent, for any valid key (the console's sign-in)."""
    return {"id": who.key_id, "name": who.name, "scopes": sorted(who.scopes),
            "agent_id": who.agent_id}


@router.get("", response_model=KeyPage)
async def index(runtime: RuntimeDep, _: Admin,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> dict[str, Any]:
    async with runtime.sessions() as session:
        rows, total = await list_keys(session, limit, offset)
    return {"items": [_out(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.post("/{key_id}/revoke", response_model=KeyOut)
async def revoke(key_id: KeyId, runtime: RuntimeDep, _: Admin) -> dict[str, Any]:
    async with runtime.transaction() as uow:
        row = await revoke_key(uow.session, key_id, datetime.now(UTC))
    if row is None:
        raise HTTPException(404, f"no key {key_id}")
    return _out(row)


@router.post("/{key_id}/rotate", status_code=201, response_model=NewKeyOut)
async def rotate(key_id: KeyId, body: RotateIn, runtime: RuntimeDep,
                 who: Admin) -> dict[str, Any]:
    now = datetime.now(UTC)
    expires = now + timedelta(days=body.expires_days) if body.expires_days else None
    async with runtime.transaction() as uow:
        rotated = await rotate_key(uow.session, key_id, now=now, created_by=who.name,
                                   old_valid_for=timedelta(seconds=body.old_valid_for_s),
                                   expires_at=expires)
    if rotated is None:
        raise HTTPException(404, f"no usable key {key_id}")
    new, row = rotated
    return {**_out(row), "key": new.plaintext}
