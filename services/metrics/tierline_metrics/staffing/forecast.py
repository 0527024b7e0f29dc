"""Forecasting arrivals per interval from history: Holt-Winters (statsmodels) with
weekday-by-interval seasonality when there are two weeks of history, daily seasonality with
two days, the mean otherwise; with a backtest on the last day held out. Pure, no I/O."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Forecast:
    values: list[float]
    method: str
    backtest_mae: float | None  # mean absolute error on the held-out last day
    backtest_naive_mae: float | None  # the same for "same interval last week/day"


def _fit_predict(history: np.ndarray, season: int | None, horizon: int) -> np.ndarray:
    if season is None:
        return np.full(horizon, float(history.mean()) if len(history) else 0.0)
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short or flat series
        model = ExponentialSmoothing(history, trend=None, seasonal="add",
                                     seasonal_periods=season, initialization_method="heuristic")
        fitted = model.fit(optimized=True)
    return np.asarray(fitted.forecast(horizon))


def _season(length: int, per_day: int) -> tuple[int | None, str]:
    if length >= 2 * 7 * per_day:
        return 7 * per_day, "holt-winters, weekly seasonality (weekday x interval)"
    if length >= 2 * per_day:
        return per_day, "holt-winters, daily seasonality"
    return None, "mean of the history (less than two days)"


def forecast(history: list[float], intervals_per_day: int, horizon: int) -> Forecast:
    if intervals_per_day <= 0 or horizon <= 0:
        raise ValueError("intervals_per_day and horizon must be > 0")
    series = np.asarray(history, dtype=float)
    if (series < 0).any() or not np.isfinite(series).all():
        raise ValueError("history must be finite counts >= 0")
    season, method = _season(len(series), intervals_per_day)
    if len(series) == 0 or not series.any():
        return Forecast([0.0] * horizon, "no arrivals in the history", None, None)
    values = np.clip(_fit_predict(series, season, horizon), 0, None)
    mae = naive = None
    train, test = series[:-intervals_per_day], series[-intervals_per_day:]
    train_season, _ = _season(len(train), intervals_per_day)
    if train_season is not None:
        predicted = np.clip(_fit_predict(train, train_season, len(test)), 0, None)
        mae = float(np.abs(predicted - test).mean())
        naive = float(np.abs(train[-train_season:][:len(test)] - test).mean())
    return Forecast([round(float(v), 4) for v in values], method,
                    None if mae is None or math.isnan(mae) else round(mae, 4),
                    None if naive is None else round(naive, 4))
