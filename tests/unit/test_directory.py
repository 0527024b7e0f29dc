"""The customer directory: bulk import parsing and the effective profile."""

from __future__ import annotations

from datetime import date

import pytest

from tierline_intake.directory.domain import (
    AccountRow,
    CustomerRow,
    RowsInvalid,
    effective_profile,
    months_between,
    parse_csv,
    parse_json,
)

ACCOUNTS_CSV = """id,name,plan,tier,vip,region,language,products,customer_since
acme,Acme Corp,enterprise,gold,no,EMEA,de,vpn;email,2019-04-01
tiny,Tiny Ltd,basic,,,APAC,,,
"""


def test_accounts_from_csv() -> None:
    rows = parse_csv(AccountRow, ACCOUNTS_CSV)
    assert rows[0] == {"id": "acme", "name": "Acme Corp", "plan": "enterprise", "tier": "gold",
                       "vip": False, "region": "EMEA", "language": "de",
                       "products": ["vpn", "email"], "customer_since": date(2019, 4, 1)}
    assert rows[1]["tier"] is None and rows[1]["products"] == []


@pytest.mark.parametrize(("text", "field"), [
    ("id,name,vip\nacme,Acme,perhaps\n", "line[2].vip"),
    ("id,name\nacme,Acme\n,Nameless\n", "line[3].id"),
    ("id,name,language\nacme,Acme,German\n", "line[2].language"),
    ("id,name,customer_since\nacme,Acme,last year\n", "line[2].customer_since"),
    ("id,name\nacme,Acme\nacme,Acme again\n", "line[3].id"),
    ("id,name\nacme,Acme,extra\n", "line[2]"),
    ("id,name,colour\nacme,Acme,red\n", "line[1]"),
    ("name\nAcme\n", "line[1]"),
    ("id,name\n", "line"),
])
def test_bad_csv_rows_are_named_by_line_and_field(text: str, field: str) -> None:
    with pytest.raises(RowsInvalid) as caught:
        parse_csv(AccountRow, text)
    assert field in [p["field"] for p in caught.value.problems]


def test_customers_from_json_and_their_errors() -> None:
    rows = parse_json(CustomerRow, {"customers": [
        {"id": "u-1", "account_id": "acme", "vip": True}]}, "customers")
    assert rows[0]["vip"] is True and rows[0]["plan"] is None
    with pytest.raises(RowsInvalid) as caught:
        parse_json(CustomerRow, [{"id": "u-1"}, {"id": "u-2", "email": "nope"}, "x"],
                   "customers")
    assert [p["field"] for p in caught.value.problems] == ["customers[1].email",
                                                          "customers[2]"]
    with pytest.raises(RowsInvalid):
        parse_json(CustomerRow, {"id": "u-1"}, "customers")


def test_the_profile_takes_the_account_where_the_customer_is_silent() -> None:
    account = {"id": "acme", "name": "Acme Corp", "plan": "enterprise", "tier": "gold",
               "vip": False, "region": "EMEA", "language": "de", "products": ["vpn"],
               "customer_since": date(2019, 4, 1)}
    customer = {"id": "u-1", "account_id": "acme", "name": "Ada", "email": None,
                "plan": None, "tier": None, "vip": True, "region": None, "language": "en",
                "products": ["laptop", "vpn"], "customer_since": None}
    profile = effective_profile(customer, account, date(2026, 11, 25))
    assert (profile["plan"], profile["tier"], profile["vip"]) == ("enterprise", "gold", True)
    assert (profile["language"], profile["region"]) == ("en", "EMEA")
    assert profile["products"] == ["vpn", "laptop"] and profile["tenure_months"] == 91
    alone = effective_profile({**customer, "account_id": None, "vip": None}, None,
                              date(2026, 11, 25))
    assert alone["vip"] is False and alone["tenure_months"] is None


def test_tenure_counts_whole_months() -> None:
    assert months_between(date(2026, 1, 31), date(2026, 2, 28)) == 0
    assert months_between(date(2026, 1, 15), date(2026, 2, 15)) == 1
    assert months_between(date(2026, 3, 1), date(2026, 2, 1)) == 0
