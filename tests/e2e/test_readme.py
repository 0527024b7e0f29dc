"""The README's curl examples, run as written against running services."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack
from tierline_shared.settings import Settings

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

README = Path(__file__).resolve().parents[2] / "README.md"


def try_it_block() -> str:
    text = README.read_text()
    section = text[text.index("## Try it"):]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


async def test_readme_curl_examples_work(stack: Stack) -> None:
    script = try_it_block()
    defaults = Settings()
    for service in ("intake", "router", "sla", "metrics"):
        script = script.replace(f"127.0.0.1:{defaults.port_for(service)}",
                                stack.url(service).removeprefix("http://"))
    script = script.replace("readme-example-1", f"readme-{stack.topics.prefix}")
    env = {**os.environ, "TIERLINE_API_KEY": stack.api_key}
    result = await asyncio.to_thread(subprocess.run, ["bash", "-euo", "pipefail", "-c", script],
                                     capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    first = json.loads(out[:out.index("}{") + 1] if "}{" in out else out.splitlines()[0])
    assert first["category"] == "network" and first["priority"] == "P2"
    assert f'"ticket_id":"{first["id"]}","agent_id"' in out  # the assignment answered
    assert '"clocks":[{"clock":"first_response"' in out
    assert 'tierline_tickets_created_total{category="network",priority="P2"}' in out
    assert '"closed_by":"customer_confirmation"' in out
    assert '"kind":"status_changed"' in out
    assert '"action":"created","actor":{"name":"bootstrap"' in out  # the audit trail
    assert '{"error":"unauthorized"' in out
    assert '"field":"body.channel"' in out and '"field":"body.description"' in out
