"""``tierline migrate --wait``: what a Deployment's init container runs until the release's
migration Job has brought every schema to its newest revision."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Databases
from tierline_shared.migrate import SCHEMAS, pending, upgrade

pytestmark = [pytest.mark.db]
TIERLINE = Path(sys.executable).parent / "tierline"


def test_waits_for_every_schema_then_succeeds(databases: Databases) -> None:
    url = databases.create(migrate=False)
    assert pending(url) == list(SCHEMAS)
    behind = subprocess.run([str(TIERLINE), "migrate", "--wait", "0.5"], capture_output=True,
                            text=True, timeout=60, env={"TIERLINE_DATABASE_URL": url,
                                                        "PATH": "/usr/bin:/bin"})
    assert behind.returncode == 1
    assert "not migrated after 0.5 s: auth, intake, router, sla, metrics" in behind.stderr
    upgrade(url, ("auth", "intake"))
    assert pending(url) == ["router", "sla", "metrics"]
    upgrade(url)
    ready = subprocess.run([str(TIERLINE), "migrate", "--wait", "5"], capture_output=True,
                           text=True, timeout=60, env={"TIERLINE_DATABASE_URL": url,
                                                       "PATH": "/usr/bin:/bin"})
    assert ready.returncode == 0, ready.stderr
