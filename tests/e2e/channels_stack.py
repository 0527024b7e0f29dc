"""A stack running intake alone, for the channels and integrations tests (import
``intake_fixture`` to use it as ``intake``): they drive intake over REST and Kafka and play
the other services' part on the broker themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Databases
from tests.e2e.conftest import Stack
from tierline_shared.embedded import EmbeddedKafka


@pytest.fixture(scope="module", name="intake")
async def intake_fixture(databases: Databases, kafka: EmbeddedKafka,
                 tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    s = Stack(databases, kafka.bootstrap_servers, tmp_path_factory.mktemp("logs"))
    s.start("intake")
    yield s
    await s.stop()
