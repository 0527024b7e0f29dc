"""Shift scheduling: cover a per-interval requirement with shift templates at the fewest
paid agent hours, as an integer programme (scipy's HiGHS MILP). Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp


@dataclass(frozen=True)
class ShiftTemplate:
    name: str
    length: int  # intervals, breaks included
    starts: tuple[int, ...]  # allowed start intervals
    break_at: int | None = None  # interval offset of an unpaid break within the shift
    break_length: int = 0

    def __post_init__(self) -> None:
        if self.length <= 0:
            raise ValueError(f"shift {self.name}: length must be > 0")
        if self.break_at is not None and not 0 < self.break_at < self.length - \
                self.break_length + 1:
            raise ValueError(f"shift {self.name}: the break must fall inside the shift")

    def covers(self, start: int, interval: int) -> bool:
        offset = interval - start
        if not 0 <= offset < self.length:
            return False
        return not (self.break_at is not None and
                    self.break_at <= offset < self.break_at + self.break_length)

    @property
    def paid_intervals(self) -> int:
        return self.length - (self.break_length if self.break_at is not None else 0)


@dataclass(frozen=True)
class Assignment:
    template: str
    start: int
    agents: int


@dataclass(frozen=True)
class Schedule:
    shifts: list[Assignment]
    coverage: list[int]
    requirement: list[int]
    paid_intervals: int

    @property
    def over_coverage(self) -> int:
        return sum(c - r for c, r in zip(self.coverage, self.requirement, strict=True))


class Infeasible(ValueError):
    pass


def schedule(requirement: list[int], templates: list[ShiftTemplate],
             time_limit_s: float = 30) -> Schedule:
    """The fewest paid intervals whose coverage meets ``requirement`` in every interval."""
    if any(r < 0 for r in requirement):
        raise ValueError("requirements must be >= 0")
    columns = [(t, s) for t in templates for s in t.starts
               if 0 <= s and s + t.length <= len(requirement)]
    if not columns:
        raise Infeasible("no shift template fits inside the planning horizon")
    cover = np.array([[1.0 if t.covers(s, i) else 0.0 for t, s in columns]
                      for i in range(len(requirement))])
    uncovered = [i for i, r in enumerate(requirement) if r > 0 and not cover[i].any()]
    if uncovered:
        raise Infeasible(f"no shift covers intervals {uncovered[:10]}")
    cost = np.array([t.paid_intervals for t, _ in columns], dtype=float)
    result = milp(cost, integrality=np.ones(len(columns)),
                  bounds=Bounds(0, max(requirement or [0]) or 0),
                  constraints=[LinearConstraint(cover, lb=np.array(requirement, dtype=float),
                                                ub=np.inf)],
                  options={"time_limit": time_limit_s})
    if result.x is None:
        raise Infeasible(f"no schedule found: {result.message}")
    counts = np.rint(result.x).astype(int)
    chosen = [Assignment(t.name, s, int(n)) for (t, s), n in zip(columns, counts, strict=True)
              if n > 0]
    coverage = (cover @ counts).astype(int).tolist()
    return Schedule(chosen, coverage, list(requirement), int(cost @ counts))
