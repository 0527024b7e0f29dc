"""Memory and CPU of each service, idle and under a steady load: the figures behind the
Kubernetes resource requests in deploy/kubernetes. Runs `tierline dev` on free ports, posts
tickets at a steady rate for a minute, and reads each service process's RSS and CPU time.

    .venv/bin/python bench/service_footprint.py
"""

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

from tierline_shared.embedded import free_port
from tierline_shared.migrate import SERVICES

RATE_PER_S, SECONDS = 10, 60


def main() -> None:
    ports = {s: free_port() for s in SERVICES}
    env = {**os.environ, "TIERLINE_DEV_POSTGRES_PORT": str(free_port()),
           "TIERLINE_DEV_KAFKA_PORT": str(free_port()),
           "TIERLINE_DEV_DATA_DIR": str(Path(".tierline/footprint").resolve()),
           **{f"TIERLINE_{s.upper()}_PORT": str(p) for s, p in ports.items()}}
    dev = subprocess.Popen([str(Path(sys.executable).parent / "tierline"), "dev"], env=env,
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        key = None
        assert dev.stdout is not None
        for line in dev.stdout:
            found = re.search(r"Admin API key of this run \(development only\): (\S+)", line)
            if found:
                key = found.group(1)
                break
        assert key, "the dev stack did not start"
        procs = {s: next(p for p in psutil.Process(dev.pid).children(recursive=True)
                         if any(c.laddr.port == port for c in p.net_connections("tcp")))
                 for s, port in ports.items()}
        idle = {s: p.memory_info().rss for s, p in procs.items()}
        cpu0 = {s: sum(p.cpu_times()[:2]) for s, p in procs.items()}
        started, created = time.monotonic(), 0
        with httpx.Client(headers={"X-API-Key": key}, timeout=30) as client:
            for n in range(RATE_PER_S * SECONDS):
                r = client.post(f"http://127.0.0.1:{ports['intake']}/v1/tickets", json={
                    "title": f"VPN keeps disconnecting {n}",
                    "description": "The VPN drops every few minutes since this morning",
                    "requester": {"id": f"u-{n % 500}", "name": "Ada Park"},
                    "channel": "portal", "impact": "medium", "urgency": "high"})
                created += r.status_code == 201
                time.sleep(max(0.0, started + (n + 1) / RATE_PER_S - time.monotonic()))
        elapsed = time.monotonic() - started
        time.sleep(5)
        print(f"{created} of {RATE_PER_S * SECONDS} tickets created in {elapsed:.0f} s")
        print(f"{'service':<8} {'idle MiB':>9} {'loaded MiB':>11} {'CPU at '}{RATE_PER_S}/s")
        for s, p in procs.items():
            cpu = (sum(p.cpu_times()[:2]) - cpu0[s]) / elapsed
            print(f"{s:<8} {idle[s] / 2**20:>9.0f} {p.memory_info().rss / 2**20:>11.0f} "
                  f"{cpu * 1000:>9.0f}m")
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        dev.wait(60)


if __name__ == "__main__":
    main()
