"""What sla holds while it runs, typed: its SLA and escalation policies, loaded once at
start-up (``app._start``) and found with ``sla_context(runtime)``."""

from __future__ import annotations

from dataclasses import dataclass

from tierline_shared.runtime import Runtime
from tierline_shared.sla_policy import SlaPolicy
from tierline_sla.escalations.domain import EscalationPolicy


@dataclass(frozen=True)
class SlaContext:
    sla_policy: SlaPolicy
    escalation_policy: EscalationPolicy


def sla_context(runtime: Runtime) -> SlaContext:
    found = runtime.context
    if not isinstance(found, SlaContext):
        raise RuntimeError("sla's context is built at start-up (tierline_sla.app._start)")
    return found
