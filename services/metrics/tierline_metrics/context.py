"""What metrics holds while it runs, typed: built once at start-up (``app._start``) and found
with ``metrics_context(runtime)``, instead of values fetched from a dict by string."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tierline_metrics.config import MetricsPolicy
from tierline_metrics.exposition.collectors import Counters
from tierline_shared.runtime import Runtime


@dataclass
class MetricsContext:
    policy: MetricsPolicy
    # business seconds between two instants on the calendar of a priority (config)
    business_seconds: Callable[[str | None, datetime, datetime], float]
    # the collectors Prometheus scrapes, refreshed from the counter totals
    counters: Counters


def metrics_context(runtime: Runtime) -> MetricsContext:
    found = runtime.context
    if not isinstance(found, MetricsContext):
        raise RuntimeError(
            "metrics' context is built at start-up (tierline_metrics.app._start)")
    return found
