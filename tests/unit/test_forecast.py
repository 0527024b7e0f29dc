"""Arrival forecasts and their backtest."""

from __future__ import annotations

import numpy as np
import pytest

from tests.reports import REPORT
from tierline_metrics.staffing.forecast import forecast

PER_DAY = 48


def synthetic(weeks: int, seed: int = 3) -> list[float]:
    rng = np.random.default_rng(seed)
    day = np.sin(np.linspace(0, np.pi, PER_DAY)) * 40  # a working-day hump
    weekday = [1.0, 1.1, 1.0, 0.95, 0.9, 0.3, 0.2]
    rates = np.concatenate([day * weekday[d % 7] for d in range(7 * weeks)])
    return rng.poisson(rates).astype(float).tolist()


def test_weekly_seasonality_beats_the_naive_forecast() -> None:
    history = synthetic(4)
    result = forecast(history, PER_DAY, horizon=PER_DAY)
    assert result.method.startswith("holt-winters, weekly")
    assert len(result.values) == PER_DAY and min(result.values) >= 0
    assert result.backtest_mae is not None and result.backtest_naive_mae is not None
    REPORT["forecast backtest MAE (Holt-Winters vs naive), synthetic 4 weeks"] = (
        f"{result.backtest_mae:.2f} vs {result.backtest_naive_mae:.2f} contacts per interval")
    assert result.backtest_mae < result.backtest_naive_mae
    # The next day is a Monday in this series: its peak is near 40 contacts.
    assert 25 < max(result.values) < 55


def test_short_histories_fall_back() -> None:
    assert forecast(synthetic(1)[:3 * PER_DAY], PER_DAY, 10).method.endswith("daily seasonality")
    assert forecast([3, 5, 4], PER_DAY, 2).values == pytest.approx([4.0, 4.0])
    assert forecast([0] * 500, PER_DAY, 3).values == [0.0, 0.0, 0.0]


def test_bad_history_is_refused() -> None:
    with pytest.raises(ValueError):
        forecast([1, -2], PER_DAY, 1)
