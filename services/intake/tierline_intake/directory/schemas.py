"""The directory API's response bodies (its input rows live in ``domain``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from tierline_intake.directory.domain import (
    ACCOUNT_EXAMPLE,
    CUSTOMER_EXAMPLE,
    AccountRow,
    CustomerRow,
)

PROFILE_EXAMPLE: dict[str, Any] = {
    "customer_id": "u-1001", "name": "Ada Park", "email": "ada@example.com",
    "account_id": "acme", "account_name": "Acme Corp", "plan": "enterprise", "tier": "gold",
    "vip": True, "region": "EMEA", "language": "en", "products": ["vpn", "email", "laptop"],
    "customer_since": "2019-04-01", "tenure_months": 91}


class AccountOut(AccountRow):
    model_config = ConfigDict(json_schema_extra={"examples": [{"id": "acme",
                                                               **ACCOUNT_EXAMPLE}]})


class CustomerOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "record": {"id": "u-1001", **CUSTOMER_EXAMPLE}, "profile": PROFILE_EXAMPLE,
        "recent_tickets": [{"id": "0b8e1c2a-4f5d-4c1e-9a7b-2d3c4e5f6a7b",
                            "title": "VPN keeps disconnecting", "status": "new",
                            "priority": "P2", "category": "network",
                            "created_at": "2026-11-24T09:00:00Z"}]}]})
    record: CustomerRow
    profile: dict[str, Any]
    recent_tickets: list[dict[str, Any]]


class ImportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "imported": 3, "created": 2, "updated": 1}]})
    imported: int
    created: int
    updated: int
