"""Bootstrap: build intake's FastAPI app with its dependencies."""

from __future__ import annotations

from fastapi import FastAPI

from tierline_intake import models
from tierline_intake.api import router
from tierline_intake.policies import load_priority_matrix, load_taxonomy
from tierline_shared.clock import Clock
from tierline_shared.runtime import Runtime, ServiceSpec
from tierline_shared.settings import Settings
from tierline_shared.web import create_service_app


async def _load_policies(runtime: Runtime) -> None:
    runtime.state["taxonomy"] = load_taxonomy(runtime.settings.policy_dir)
    runtime.state["priority_matrix"] = load_priority_matrix(runtime.settings.policy_dir)


SPEC = ServiceSpec(name="intake", metadata=models.metadata, outbox=models.outbox,
                   inbox=models.inbox, on_start=_load_policies)


def create_app(settings: Settings, clock: Clock | None = None) -> FastAPI:
    return create_service_app(
        SPEC, settings, routers=[router], clock=clock, title="Tierline intake",
        description="Logs incidents and service requests, categorizes and prioritizes them.",
    )
