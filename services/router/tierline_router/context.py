"""What router holds while it runs, typed: built once at start-up (``app._start``) and found
with ``router_context(runtime)``, instead of values fetched from a dict by string."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import Gauge

from tierline_router.routing.rules import RoutingPolicy
from tierline_shared.runtime import Runtime


@dataclass
class RouterContext:
    routing_policy: RoutingPolicy
    # the queue gauges (``routing.jobs.queue_gauges``) and the queues they have shown, so a
    # queue that empties is set to zero rather than left at its last depth
    gauges: dict[str, Gauge]
    queues_seen: set[str] = field(default_factory=set)


def router_context(runtime: Runtime) -> RouterContext:
    found = runtime.context
    if not isinstance(found, RouterContext):
        raise RuntimeError("router's context is built at start-up (tierline_router.app._start)")
    return found
