"""Ticket search's keyset cursor: it round-trips, and anything else is refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tierline_intake.tickets.search import BadCursor, decode, encode


def test_a_cursor_round_trips_and_is_url_safe() -> None:
    tid = uuid.uuid4()
    for at in (datetime(2026, 11, 30, 9, 0, 0, 123456, tzinfo=UTC),
               datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=-5)))):
        cursor = encode(at, tid)
        assert decode(cursor) == (at, tid)
        assert all(c.isalnum() or c in "-_" for c in cursor)


@pytest.mark.parametrize("bad", ["x", "!!!!", "bm90IGpzb24", "e30",
                                 "WyIyMDI2LTExLTMwVDA5OjAwOjAwIiwibm90LWEtdXVpZCJd",
                                 "WyIyMDI2LTExLTMwVDA5OjAwOjAwIiwiMGI3ZTRmMGUtNmMxZC00YTQzLT"
                                 "lhNTEtMmIxZjhmM2QyYzEwIl0"])
def test_anything_but_a_cursor_is_refused(bad: str) -> None:
    with pytest.raises(BadCursor, match="next_cursor"):
        decode(bad)
