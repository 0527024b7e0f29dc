"""The customer and account directory: records, bulk import parsing (CSV, JSON) and the
effective profile a ticket is enriched with. Pure: no I/O.

A customer belongs to an account (optional); what the customer record leaves empty comes
from the account (plan, tier, VIP, region, language, customer since), products are the
union of both.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Language = Annotated[str, StringConstraints(strip_whitespace=True,
                                            pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254,
                                         pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]

ACCOUNT_EXAMPLE: dict[str, Any] = {
    "name": "Acme Corp", "plan": "enterprise", "tier": "gold", "vip": False,
    "region": "EMEA", "language": "de", "products": ["vpn", "email"],
    "customer_since": "2019-04-01"}
CUSTOMER_EXAMPLE: dict[str, Any] = {
    "account_id": "acme", "name": "Ada Park", "email": "ada@example.com", "vip": True,
    "language": "en", "products": ["laptop"]}


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [ACCOUNT_EXAMPLE]})
    name: Name
    plan: Short | None = Field(default=None, description="support plan, e.g. enterprise")
    tier: Short | None = Field(default=None, description="customer tier, e.g. gold")
    vip: bool = False
    region: Short | None = None
    language: Language | None = Field(default=None, description="IETF tag, e.g. de or pt-BR")
    products: list[Short] = Field(default_factory=list, max_length=200)
    customer_since: date | None = None


class CustomerIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CUSTOMER_EXAMPLE]})
    account_id: Id | None = None
    name: Name | None = None
    email: Email | None = None
    plan: Short | None = None
    tier: Short | None = None
    vip: bool | None = Field(default=None, description="unset: the account's")
    region: Short | None = None
    language: Language | None = None
    products: list[Short] = Field(default_factory=list, max_length=200)
    customer_since: date | None = None


class AccountRow(AccountIn):
    id: Id


class CustomerRow(CustomerIn):
    id: Id


def months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return max(months - (1 if end.day < start.day else 0), 0)


def effective_profile(customer: dict[str, Any], account: dict[str, Any] | None,
                      today: date) -> dict[str, Any]:
    """What a ticket is enriched with: the customer's values, the account's where the
    customer has none, tenure in months from ``customer_since``."""
    account = account or {}

    def pick(key: str) -> Any:
        value = customer.get(key)
        return value if value is not None else account.get(key)

    since = pick("customer_since")
    if isinstance(since, str):
        since = date.fromisoformat(since)
    products = list(dict.fromkeys([*(account.get("products") or []),
                                   *(customer.get("products") or [])]))
    return {
        "customer_id": customer["id"], "name": customer.get("name"),
        "email": customer.get("email"), "account_id": customer.get("account_id"),
        "account_name": account.get("name"), "plan": pick("plan"), "tier": pick("tier"),
        "vip": bool(pick("vip")), "region": pick("region"), "language": pick("language"),
        "products": products,
        "customer_since": since.isoformat() if since else None,
        "tenure_months": months_between(since, today) if since else None,
    }


class RowsInvalid(ValueError):
    """Rows that do not validate: each problem names its row and field."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__(f"{len(problems)} problems")
        self.problems = problems


BOOLS = {"true": True, "yes": True, "1": True, "y": True, "false": False, "no": False,
         "0": False, "n": False}


def _csv_row(row: dict[str, str | None]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, raw in row.items():
        if key is None:
            out["_extra"] = raw
            continue
        value = (raw or "").strip()
        if value == "":
            continue
        if key == "products":
            out[key] = [p.strip() for p in value.replace("|", ";").split(";") if p.strip()]
        elif key == "vip":
            out[key] = BOOLS.get(value.lower(), value)
        else:
            out[key] = value
    return out


def parse_rows(model: type[AccountRow] | type[CustomerRow], rows: list[Any],
               first_line: int = 0, label: str = "rows") -> list[dict[str, Any]]:
    """Validate every row; all or nothing."""
    records, problems = [], []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        where = f"{label}[{index + first_line}]"
        if not isinstance(row, dict):
            problems.append({"field": where, "message": "must be an object", "type": "type"})
            continue
        if "_extra" in row:
            problems.append({"field": where, "message": "more values than columns",
                             "type": "csv"})
            continue
        try:
            record = model.model_validate(row)
        except ValidationError as exc:
            problems += [{"field": ".".join([where, *(str(p) for p in err["loc"])]),
                          "message": err["msg"], "type": err["type"]} for err in exc.errors()]
            continue
        if record.id in seen:
            problems.append({"field": f"{where}.id", "message": f"id {record.id!r} appears "
                             "twice", "type": "duplicate"})
        seen.add(record.id)
        records.append(record.model_dump())
    if problems:
        raise RowsInvalid(problems)
    if not records:
        raise RowsInvalid([{"field": label, "message": "no rows", "type": "missing"}])
    return records


def parse_csv(model: type[AccountRow] | type[CustomerRow], text: str) -> list[dict[str, Any]]:
    """CSV with a header row; products separated by ``;``; rows are named by line."""
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    unknown = columns - set(model.model_fields)
    if "id" not in columns or unknown:
        detail = f"unknown columns {sorted(unknown)}" if unknown else "an id column is needed"
        raise RowsInvalid([{"field": "line[1]", "message": detail, "type": "csv"}])
    return parse_rows(model, [_csv_row(row) for row in reader], first_line=2, label="line")


def parse_json(model: type[AccountRow] | type[CustomerRow], data: Any,
               key: str) -> list[dict[str, Any]]:
    """A JSON list of records, or ``{key: [...]}``."""
    if isinstance(data, dict) and isinstance(data.get(key), list):
        data = data[key]
    if not isinstance(data, list):
        raise RowsInvalid([{"field": "body", "message": f"a list of records or {{{key!r}: "
                             "[...]}", "type": "type"}])
    return parse_rows(model, data, label=key)
