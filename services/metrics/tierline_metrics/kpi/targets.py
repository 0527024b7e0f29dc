"""Targets met or missed: each target's figure read from a KPI report, judged against its
bounds (min <= value <= max). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class Bounds(Protocol):
    min: float | None
    max: float | None


def figures(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The figure each target is set on, from an overall report of :func:`formulas.report`."""
    tier1 = report.get("resolution_seconds_by_tier", {}).get("1", {})
    tier1_escalation = report.get("escalation_by_tier", {}).get("1", {})
    return {
        "deflection_rate": report["deflection_rate"],
        "fcr_rate": report["fcr"]["rate"],
        "csat_rate": report["csat"]["rate"],
        "tier1_resolution_p90_seconds": tier1.get("p90"),
        "resolution_p90_seconds": report["resolution_seconds"]["p90"],
        "tier1_escalation_rate": tier1_escalation.get("rate"),
        "escalation_rate": report["escalation"]["rate"],
    }


def judge(report: Mapping[str, Any], targets: Mapping[str, Bounds]) -> list[dict[str, Any]]:
    """One row per target: its bounds, the figure and ``met`` (None: no data to judge)."""
    values = figures(report)
    rows = []
    for name, bound in targets.items():
        value = values.get(name)
        met = None if value is None else (
            (bound.min is None or value >= bound.min) and (bound.max is None or value <= bound.max))
        rows.append({"target": name, "min": bound.min, "max": bound.max, "value": value,
                     "met": met})
    return rows
