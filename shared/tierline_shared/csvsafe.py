"""CSV cells safe to open in a spreadsheet (CSV injection, OWASP): a text cell that starts
with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as a formula by Excel,
LibreOffice or Google Sheets (``=HYPERLINK(...)`` sends a click to anyone's server), so it
gets a leading apostrophe and is read as text. Numbers are left alone: -3 stays a number."""

from __future__ import annotations

from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
