"""Topic names, derived from one prefix so test runs and tenants can be isolated."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = "tierline"

    @property
    def incidents(self) -> str:
        """Incidents from intake: creation and every lifecycle event, keyed by ticket id."""
        return f"{self.prefix}.incidents"

    @property
    def requests(self) -> str:
        """Service requests from intake, kept apart from incidents so neither delays the
        other; keyed by ticket id."""
        return f"{self.prefix}.requests"

    def for_type(self, ticket_type: str) -> str:
        return self.incidents if ticket_type == "incident" else self.requests

    @property
    def tickets(self) -> list[str]:
        return [self.incidents, self.requests]

    @property
    def routing(self) -> str:
        """Assignments and queueing decisions from router, keyed by ticket id."""
        return f"{self.prefix}.routing"

    @property
    def sla(self) -> str:
        """Clock and escalation events from sla, keyed by ticket id."""
        return f"{self.prefix}.sla"

    @property
    def agents(self) -> str:
        """Agent facts from router (presence), keyed by agent id."""
        return f"{self.prefix}.agents"

    @property
    def interactions(self) -> str:
        """Customer contacts from chat and IVR fronts, keyed by interaction id; intake
        consumes them."""
        return f"{self.prefix}.interactions"

    @property
    def metrics(self) -> str:
        """Signals metrics derives (voice of the customer), keyed by what they are about."""
        return f"{self.prefix}.metrics"

    @property
    def deadletter(self) -> str:
        """Messages a consumer could not validate or process, with the error in headers."""
        return f"{self.prefix}.deadletter"

    def all(self) -> list[str]:
        return [self.incidents, self.requests, self.routing, self.sla, self.agents,
                self.metrics, self.deadletter, self.interactions]

    @property
    def replayed(self) -> list[str]:
        """The topics ``tierline metrics rebuild`` replays from their first offset: their
        whole history must be kept."""
        return [*self.tickets, self.routing, self.sla, self.agents]

    def configs(self, min_insync_replicas: int) -> dict[str, dict[str, str]]:
        """Topic configs Tierline needs: replayed topics and dead letters kept for good
        (``retention.ms=-1``; not compacted: every event of a ticket counts, not its last),
        the others at the cluster's retention; every write acknowledged by
        ``min.insync.replicas`` replicas (producers send with ``acks=all``)."""
        kept = {*self.replayed, self.deadletter}
        return {name: {"min.insync.replicas": str(min_insync_replicas),
                       **({"retention.ms": "-1"} if name in kept else {})}
                for name in self.all()}

