"""The simulation's report: service level, ASA, FCR, CSAT, escalations and per-tier
occupancy from what happened to each ticket; PNG charts. Pure but for writing the files."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from statistics import mean
from typing import Any


@dataclass
class Story:
    """One ticket, as the simulator saw it happen."""

    ticket_id: str
    arrived: datetime
    channel: str
    priority: str
    offers: list[tuple[datetime, str, int]] = field(default_factory=list)  # at, agent, tier
    escalated: bool = False
    reopened: bool = False
    resolved_at: datetime | None = None
    csat: int | None = None
    category: str | None = None  # as the scenario's mix chose it
    abandoned: bool = False  # the customer withdrew it before any agent was offered it
    patience_s: float | None = None  # how long the customer would wait
    # for the comparison with queueing theory (simulated time throughout)
    accepted_at: datetime | None = None  # the first accept answered
    handle_s: float | None = None  # the last handling's length
    resolving_at: datetime | None = None  # the agent sent the resolution
    routed_at: datetime | None = None  # router's first step: offered or queued
    queued: bool = False  # router found nobody free to take it
    released_at: datetime | None = None  # router freed the agent's capacity

    @property
    def wait_s(self) -> float | None:
        return (self.offers[0][0] - self.arrived).total_seconds() if self.offers else None

    @property
    def first_contact(self) -> bool:
        agents = {agent for _, agent, _ in self.offers}
        return (self.resolved_at is not None and not self.escalated and not self.reopened
                and len(agents) == 1)


def summarize(stories: list[Story], busy_s: dict[str, float],
              tier_of: dict[str, tuple[int, int]], span_s: float,
              service_level_s: float) -> dict[str, Any]:
    """The report's figures. ``busy_s`` is each agent's handling time, ``tier_of`` each
    agent's tier and concurrent capacity, ``span_s`` the simulated time they were on shift.
    Occupancy is the share of the tier's capacity (slots x time) spent handling work."""
    n = len(stories)
    waits = [s.wait_s for s in stories if s.wait_s is not None]
    resolved = [s for s in stories if s.resolved_at is not None]
    answers = [s.csat for s in stories if s.csat is not None]
    per_tier_busy: dict[int, float] = defaultdict(float)
    per_tier_slots: dict[int, int] = defaultdict(int)
    for agent, (tier, slots) in tier_of.items():
        per_tier_slots[tier] += slots
        per_tier_busy[tier] += busy_s.get(agent, 0.0)
    return {
        "tickets": n,
        "assigned": len(waits),
        "resolved": len(resolved),
        "service_level": round(sum(1 for w in waits if w <= service_level_s) / n, 4) if n
        else None,
        "service_level_seconds": service_level_s,
        "asa_s": round(mean(waits), 1) if waits else None,
        "fcr": round(sum(s.first_contact for s in resolved) / len(resolved), 4)
        if resolved else None,
        "csat_satisfied": round(sum(1 for a in answers if a >= 4) / len(answers), 4)
        if answers else None,
        "csat_mean": round(mean(answers), 2) if answers else None,
        "csat_answers": len(answers),
        "escalations": sum(s.escalated for s in stories),
        "escalation_rate": round(sum(s.escalated for s in stories) / len(waits), 4)
        if waits else None,
        "reopened": sum(s.reopened for s in stories),
        "occupancy_by_tier": {str(t): round(per_tier_busy[t] / (per_tier_slots[t] * span_s), 4)
                              for t in sorted(per_tier_slots) if span_s > 0},
    }


def charts(runs: dict[str, tuple[dict[str, Any], list[Story]]], out: Path) -> list[Path]:
    """Waits by run (cumulative share answered within t) and the headline figures side by
    side; one PNG each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, (_, stories) in runs.items():
        waits = sorted(s.wait_s / 60 for s in stories if s.wait_s is not None)
        if waits:
            ax.step(waits, [i / len(stories) for i in range(1, len(waits) + 1)], label=name)
    ax.set_xlabel("wait until offered to an agent (minutes)")
    ax.set_ylabel("share of tickets")
    ax.set_title("Waits")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "waits.png", dpi=100)
    plt.close(fig)
    written.append(out / "waits.png")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    names = list(runs)
    kpis = ["service_level", "fcr", "csat_satisfied", "escalation_rate"]
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        summary = runs[name][0]
        axes[0].bar([k + i * width for k in range(len(kpis))],
                    [summary[k] or 0 for k in kpis], width, label=name)
        tiers = summary["occupancy_by_tier"]
        axes[1].bar([k + i * width for k in range(len(tiers))], list(tiers.values()), width,
                    label=name)
    all_tiers = sorted({t for summary, _ in runs.values() for t in summary["occupancy_by_tier"]})
    axes[1].set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(all_tiers))],
                       [f"tier {t}" for t in all_tiers])
    axes[0].set_xticks([k + width * (len(names) - 1) / 2 for k in range(len(kpis))],
                       ["SL", "FCR", "CSAT 4-5", "escalation"])
    axes[0].set_ylim(0, 1)
    axes[0].set_title("Outcomes")
    axes[1].set_ylim(0, 1)
    axes[1].set_title("Occupancy")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out / "outcomes.png", dpi=100)
    plt.close(fig)
    written.append(out / "outcomes.png")
    return written


def write_tickets(stories: list[Story], path: Path) -> None:
    """Every ticket's story as CSV, for analysis elsewhere."""
    import csv

    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["ticket_id", "arrived", "channel", "priority", "wait_s", "agents",
                      "tiers", "escalated", "reopened", "resolved_at", "csat"])
        for s in stories:
            out.writerow([s.ticket_id, s.arrived.isoformat(), s.channel, s.priority,
                          "" if s.wait_s is None else round(s.wait_s, 1),
                          " ".join(a for _, a, _ in s.offers),
                          " ".join(str(t) for _, _, t in s.offers), s.escalated, s.reopened,
                          s.resolved_at.isoformat() if s.resolved_at else "",
                          "" if s.csat is None else s.csat])


def text(runs: dict[str, dict[str, Any]]) -> str:
    rows = [("tickets", "tickets"), ("assigned", "assigned"), ("resolved", "resolved"),
            ("service level", "service_level"), ("ASA (s)", "asa_s"), ("FCR", "fcr"),
            ("CSAT share 4-5", "csat_satisfied"), ("CSAT mean", "csat_mean"),
            ("escalations", "escalations"), ("reopened", "reopened")]
    names = list(runs)
    lines = ["| figure | " + " | ".join(names) + " |",
             "| --- |" + " ---: |" * len(names)]
    for label, key in rows:
        lines.append(f"| {label} | " + " | ".join(str(runs[n][key]) for n in names) + " |")
    tiers = sorted({t for r in runs.values() for t in r["occupancy_by_tier"]})
    for t in tiers:
        lines.append(f"| tier {t} occupancy | " + " | ".join(
            str(runs[n]["occupancy_by_tier"].get(t, "")) for n in names) + " |")
    return "\n".join(lines)
