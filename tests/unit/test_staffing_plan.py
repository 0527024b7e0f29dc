"""The interval plan and its command line (CSV out, PNG chart)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from tierline_metrics.staffing.plan import Target, plan
from tierline_shared.erlang import erlang_c_figures


def test_each_interval_meets_the_target_with_the_fewest_agents() -> None:
    target = Target(interval_minutes=30, aht_s=240, service_level=0.8, answer_within_s=20,
                    max_occupancy=0.85, shrinkage=0.25)
    rows = plan([0, 5, 40, 120, 300.5], target)
    assert rows[0].agents == 0 and rows[0].service_level == 1
    for row in rows[1:]:
        assert row.service_level >= 0.8 and row.occupancy <= 0.85
        fewer = erlang_c_figures(row.agents - 1, row.load, 240, 20)
        assert row.agents - 1 <= row.load or fewer.service_level < 0.8 or \
            row.load / (row.agents - 1) > 0.85
        assert row.scheduled == -(-row.agents * 100 // 75)  # ceil(agents / 0.75)
    assert rows[3].load == pytest.approx(120 * 240 / 1800)


def test_targets_are_checked() -> None:
    with pytest.raises(ValueError, match="interval_minutes"):
        Target(interval_minutes=20)
    with pytest.raises(ValueError, match="exactly one"):
        Target(service_level=0.8, asa_s=20)
    with pytest.raises(ValueError, match="volume must be >= 0"):
        plan([-1], Target())


def tierline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tierline_shared.cli", *args],
                          capture_output=True, text=True, timeout=120)


def test_cli_writes_the_plan_as_csv_and_a_png_chart(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes.csv"
    volumes.write_text("volume\n" + "\n".join(str(v) for v in [0, 10, 50, 90, 60, 20]) + "\n")
    out, chart = tmp_path / "plan.csv", tmp_path / "plan.png"
    result = tierline("staffing", "plan", str(volumes), "--aht", "240", "--out", str(out),
                      "--chart", str(chart))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(out.open()))
    assert [int(r["agents"]) for r in rows] == [
        r.agents for r in plan([0, 10, 50, 90, 60, 20], Target(aht_s=240))]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_cli_names_the_bad_line(tmp_path: Path) -> None:
    volumes = tmp_path / "volumes.txt"
    volumes.write_text("10\nlots\n")
    result = tierline("staffing", "plan", str(volumes))
    assert result.returncode == 2
    assert f"{volumes}:2: volume 'lots' is not a number" in result.stderr
