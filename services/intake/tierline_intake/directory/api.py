"""REST endpoints of the customer and account directory, with bulk import (CSV, JSON)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from tierline_intake.directory.domain import (
    ACCOUNT_EXAMPLE,
    CUSTOMER_EXAMPLE,
    AccountIn,
    AccountRow,
    CustomerIn,
    CustomerRow,
    RowsInvalid,
    parse_csv,
    parse_json,
)
from tierline_intake.directory.schemas import (
    AccountOut,
    CustomerOut,
    ImportOut,
)
from tierline_intake.directory.service import get_row, profile_of, recent_tickets, upsert
from tierline_intake.http_errors import ERRORS, IdempotencyKey, key_reused
from tierline_intake.idempotency import KeyReused, run_once
from tierline_intake.models import accounts, customers
from tierline_shared.auth.deps import require
from tierline_shared.runtime import Runtime
from tierline_shared.web import ActorDep, RuntimeDep, SessionDep, error_body

router = APIRouter(prefix="/v1", tags=["customers"])
# An id as the rows keep it: no control characters, no space at either end (a path of "\r"
# would otherwise be stored and then fail the response model, which strips it).
_ID_PATTERN = r"^[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]{0,198}[^\s\x00-\x1f\x7f])?$"
RowId = Annotated[str, Path(pattern=_ID_PATTERN)]

def _problems(problems: list[dict[str, str]]) -> HTTPException:
    return HTTPException(422, error_body("validation_error", problems))


async def _unknown_accounts(session: AsyncSession, records: list[dict[str, Any]],
                            label: str, first: int = 0) -> list[dict[str, str]]:
    wanted = {r["account_id"] for r in records if r.get("account_id")}
    if not wanted:
        return []
    known = set((await session.execute(select(accounts.c.id).where(
        accounts.c.id.in_(wanted)))).scalars())
    return [{"field": label.format(index=i + first) + ".account_id", "type": "value_error",
             "message": f"no account {r['account_id']!r}; import accounts first"}
            for i, r in enumerate(records) if r.get("account_id") and
            r["account_id"] not in known]


async def _customer_out(runtime: Runtime, session: AsyncSession,
                        customer_id: str) -> dict[str, Any]:
    record = await get_row(session, customers, customer_id)
    if record is None:
        raise HTTPException(404, error_body("not_found", f"no customer {customer_id}"))
    record.pop("updated_at")
    profile = await profile_of(runtime, session, customer_id)
    return {"record": CustomerRow.model_validate(record).model_dump(mode="json"),
            "profile": profile, "recent_tickets": await recent_tickets(session, [customer_id])}


@router.put("/accounts/{account_id}", response_model=AccountOut, responses=ERRORS,
            dependencies=[require("customers:write")])
async def put_account(account_id: RowId, body: AccountIn, runtime: RuntimeDep) -> Any:
    """Create or replace an account: plan, tier, VIP, region, language, products."""
    async with runtime.transaction() as uow:
        await upsert(runtime, uow.session, accounts, [{"id": account_id, **body.model_dump()}])
    return {"id": account_id, **body.model_dump(mode="json")}


@router.get("/accounts/{account_id}", response_model=AccountOut,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("customers:read")])
async def get_account(account_id: RowId, session: SessionDep) -> Any:
    row = await get_row(session, accounts, account_id)
    if row is None:
        raise HTTPException(404, error_body("not_found", f"no account {account_id}"))
    row.pop("updated_at")
    return row


@router.put("/customers/{customer_id}", response_model=CustomerOut, responses=ERRORS,
            dependencies=[require("customers:write")])
async def put_customer(customer_id: RowId, body: CustomerIn, runtime: RuntimeDep) -> Any:
    """Create or replace a customer; what it leaves empty comes from its account."""
    record = {"id": customer_id, **body.model_dump()}
    async with runtime.transaction() as uow:
        unknown = await _unknown_accounts(uow.session, [record], "body")
        if unknown:
            unknown[0]["field"] = "body.account_id"
            raise _problems(unknown)
        await upsert(runtime, uow.session, customers, [record])
    async with runtime.sessions() as session:
        return await _customer_out(runtime, session, customer_id)


@router.get("/customers/{customer_id}", response_model=CustomerOut,
            responses={404: ERRORS[404], 422: ERRORS[422]},
            dependencies=[require("customers:read")])
async def get_customer(customer_id: RowId, runtime: RuntimeDep, session: SessionDep) -> Any:
    """The customer's record, the effective profile tickets are enriched with (account
    values filled in, tenure) and their recent tickets."""
    return await _customer_out(runtime, session, customer_id)


CSV_EXAMPLES = {
    "accounts": "id,name,plan,tier,vip,region,language,products,customer_since\n"
                "acme,Acme Corp,enterprise,gold,false,EMEA,de,vpn;email,2019-04-01\n",
    "customers": "id,account_id,name,email,vip,language,products\n"
                 "u-1001,acme,Ada Park,ada@example.com,true,en,laptop\n",
}


def _import_route(name: str, table: Table, model: type[AccountRow] | type[CustomerRow],
                  example: dict[str, Any]) -> Any:
    async def import_rows(request: Request, runtime: RuntimeDep, actor: ActorDep,
                          idempotency_key: IdempotencyKey = None) -> Any:
        raw = await request.body()
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if kind in ("text/csv", "application/csv"):
                records = parse_csv(model, raw.decode("utf-8-sig"))
            elif kind in ("application/json", ""):
                try:
                    data = json.loads(raw)
                except ValueError:
                    raise RowsInvalid([{"field": "body", "type": "json_invalid",
                                        "message": "request body is not valid JSON"}]) from None
                records = parse_json(model, data, name)
            else:
                raise HTTPException(415, error_body(
                    "unsupported_media_type", f"send text/csv or application/json, not {kind}"))
        except RowsInvalid as exc:
            raise _problems(exc.problems) from None
        except UnicodeDecodeError:
            raise _problems([{"field": "body", "type": "encoding",
                              "message": "CSV must be UTF-8"}]) from None

        async def effect(session: AsyncSession) -> tuple[int, dict[str, Any]]:
            if table is customers:
                csv_rows = kind.endswith("csv")  # named by line; the header is line 1
                unknown = await _unknown_accounts(
                    session, records, "line[{index}]" if csv_rows else "customers[{index}]",
                    first=2 if csv_rows else 0)
                if unknown:
                    raise RowsInvalid(unknown)
            return 200, await upsert(runtime, session, table, records)

        try:
            status, payload, replayed = await run_once(
                runtime, key=idempotency_key, actor=actor, scope=f"POST /v1/{name}/import",
                payload={"content_type": kind, "body": raw.decode("utf-8", "replace")},
                effect=effect)
        except RowsInvalid as exc:
            raise _problems(exc.problems) from None
        except KeyReused:
            raise key_reused() from None
        headers = {"Idempotent-Replayed": "true"} if replayed else {}
        return JSONResponse(payload, status_code=status, headers=headers)

    import_rows.__doc__ = (f"Bulk import {name}: CSV (text/csv, a header row, products "
                           f"separated by ;) or JSON (a list, or {{\"{name}\": [...]}}). All "
                           "or nothing: any bad row answers 422 naming its line or index and "
                           "field. Rows are created or replaced by id.")
    openapi_extra = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "array", "items": {
            "$ref": f"#/components/schemas/{model.__name__}"}},
            "examples": {"json": {"value": [{"id": "acme" if table is accounts else "u-1001",
                                             **example}]}}},
        "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLES[name]}}}}
    router.add_api_route(f"/{name}/import", import_rows, methods=["POST"],
                         response_model=ImportOut, responses={**ERRORS, 415: {
                             "description": "Neither CSV nor JSON"}},
                         openapi_extra=openapi_extra, name=f"import_{name}",
                         summary=f"Bulk import {name}",
                         dependencies=[require("customers:write")])


_import_route("accounts", accounts, AccountRow, ACCOUNT_EXAMPLE)
_import_route("customers", customers, CustomerRow, CUSTOMER_EXAMPLE)
