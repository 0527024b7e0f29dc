"""Schemathesis against each running service's OpenAPI document, with an admin key: no
answer is a 5xx and every answer matches the documented schema and content type. Bounded:
a few examples per operation, generated only (no shrinking, no example database)."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import content_type_conformance, not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from tests.e2e.conftest import Stack

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

# CI draws the same examples every run, so a red build is a real regression and not the luck
# of the draw; TIERLINE_FUZZ_EXPLORE=1 draws fresh ones (and TIERLINE_FUZZ_EXAMPLES more of
# them) to hunt for new failures.
EXPLORE = os.environ.get("TIERLINE_FUZZ_EXPLORE") == "1"
EXAMPLES_PER_OPERATION = int(os.environ.get("TIERLINE_FUZZ_EXAMPLES", "8"))


def fuzz(base_url: str, key: str) -> list[str]:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], derandomize=not EXPLORE,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            case.call_and_validate(base_url=base_url, headers={"X-API-Key": key}, timeout=30,
                                   checks=[not_a_server_error, response_schema_conformance,
                                           content_type_conformance])

        try:
            check()
        except Exception as exc:  # noqa: BLE001 (collect every operation's failure)
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures


@pytest.mark.parametrize("service", ["intake", "router", "sla", "metrics"])
async def test_schemathesis_finds_no_failure(stack: Stack, service: str) -> None:
    failures = await asyncio.to_thread(fuzz, stack.url(service), stack.api_key)
    assert failures == [], "\n\n".join(failures)
