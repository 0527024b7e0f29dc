"""Topic names, derived from one prefix so test runs and tenants can be isolated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = "tierline"

    @property
    def tickets(self) -> str:
        """Ticket facts from intake, keyed by ticket id."""
        return f"{self.prefix}.tickets"

    @property
    def routing(self) -> str:
        """Assignments and queueing decisions from router, keyed by ticket id."""
        return f"{self.prefix}.routing"

    @property
    def sla(self) -> str:
        """Clock and escalation events from sla, keyed by ticket id."""
        return f"{self.prefix}.sla"

    @property
    def deadletter(self) -> str:
        """Messages a consumer could not validate or process, with the error in headers."""
        return f"{self.prefix}.deadletter"

    def all(self) -> list[str]:
        return [self.tickets, self.routing, self.sla, self.deadletter]
