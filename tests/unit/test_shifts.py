"""Shift scheduling covers every interval at the fewest paid hours."""

from __future__ import annotations

import itertools

import pytest

from tierline_metrics.staffing.shifts import Infeasible, ShiftTemplate, schedule


def test_covers_every_interval() -> None:
    requirement = [0, 0, 2, 4, 6, 6, 5, 7, 8, 6, 4, 3, 2, 1, 0, 0]
    templates = [ShiftTemplate("long", 8, tuple(range(9)), break_at=4, break_length=1),
                 ShiftTemplate("short", 4, tuple(range(13)))]
    plan = schedule(requirement, templates)
    assert all(c >= r for c, r in zip(plan.coverage, requirement, strict=True))
    assert plan.paid_intervals == sum(
        (7 if a.template == "long" else 4) * a.agents for a in plan.shifts)


def test_is_optimal_on_a_small_case() -> None:
    requirement = [1, 2, 2, 1, 0, 1]
    templates = [ShiftTemplate("three", 3, tuple(range(4))),
                 ShiftTemplate("two", 2, tuple(range(5)))]
    plan = schedule(requirement, templates)
    columns = [(t, s) for t in templates for s in t.starts if s + t.length <= 6]
    best = None
    for counts in itertools.product(range(3), repeat=len(columns)):
        cover = [sum(n for (t, s), n in zip(columns, counts, strict=True) if t.covers(s, i))
                 for i in range(6)]
        if all(c >= r for c, r in zip(cover, requirement, strict=True)):
            cost = sum(t.paid_intervals * n for (t, _), n in zip(columns, counts, strict=True))
            best = cost if best is None else min(best, cost)
    assert plan.paid_intervals == best


def test_breaks_do_not_count_as_coverage() -> None:
    template = ShiftTemplate("with-break", 5, (0,), break_at=2, break_length=1)
    with pytest.raises(Infeasible, match="no shift covers intervals"):
        schedule([1, 1, 1, 1, 1], [template])


def test_zero_requirement_needs_nobody() -> None:
    plan = schedule([0, 0, 0, 0], [ShiftTemplate("x", 2, (0, 1, 2))])
    assert plan.shifts == [] and plan.paid_intervals == 0
