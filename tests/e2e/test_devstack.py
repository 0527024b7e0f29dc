"""``make run``'s engine, ``tierline dev``: starts everything, serves, and on Ctrl-C stops
everything with nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.conftest import ticket
from tierline_shared.embedded import free_port, port_is_free
from tierline_shared.migrate import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


def test_dev_stack_starts_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    ports = {s: free_port() for s in (*SERVICES, "console")}
    pg_port, kafka_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.update({"TIERLINE_DEV_POSTGRES_PORT": str(pg_port),
                "TIERLINE_DEV_KAFKA_PORT": str(kafka_port),
                "TIERLINE_DEV_DATA_DIR": str(tmp_path / "dev"),
                **{f"TIERLINE_{s.upper()}_PORT": str(p) for s, p in ports.items()}})
    out = tmp_path / "out.log"
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "tierline_shared.cli", "dev"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while "Press Ctrl-C" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        assert "loaded a demo roster of 5 agents" in out.read_text()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 7  # postgres (and its workers), broker, five services
        console = f"http://127.0.0.1:{ports['console']}"
        assert f"console  {console}" in out.read_text()
        assert httpx.get(f"{console}/signin").status_code == 200
        agent_key = re.search(r"Agent \S+'s API key \(development only\): (tl_\w+)",
                              out.read_text()).group(1)
        me = httpx.get(f"http://127.0.0.1:{ports['intake']}/v1/keys/me",
                       headers={"X-API-Key": agent_key}).json()
        assert me["agent_id"] and "agents:write" in me["scopes"]

        key = re.search(r"Admin API key of this run \(development only\): (tl_\w+)",
                        out.read_text()).group(1)
        intake = f"http://127.0.0.1:{ports['intake']}/v1/tickets"
        refused = httpx.post(intake, json=ticket())
        assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        created = httpx.post(intake, json=ticket(), headers={"X-API-Key": key})
        assert created.status_code == 201
        ticket_id = created.json()["id"]
        for _ in range(100):
            got = httpx.get(f"http://127.0.0.1:{ports['router']}/v1/assignments/{ticket_id}",
                            headers={"X-API-Key": key})
            if got.status_code == 200:
                break
            time.sleep(0.1)
        assert got.status_code == 200, got.text

        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == [], f"left behind: {alive}"
    assert "stopped." in out.read_text()
    assert not (tmp_path / "dev" / "pgdata").exists()
    assert all(port_is_free(p) for p in [pg_port, kafka_port, *ports.values()])


def test_dev_stack_refuses_busy_ports_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")},
               "TIERLINE_INTAKE_PORT": str(port), "TIERLINE_DEV_DATA_DIR": str(tmp_path)}
        result = subprocess.run([sys.executable, "-m", "tierline_shared.cli", "dev"], env=env,
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert f"intake {port}" in result.stderr
