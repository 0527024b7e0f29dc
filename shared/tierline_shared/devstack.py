"""``make run``: the whole system on the embedded defaults, stopped cleanly on Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import yaml
from pydantic import SecretStr

from tierline_shared.auth.keys import generate
from tierline_shared.embedded import (
    EmbeddedError,
    EmbeddedKafka,
    EmbeddedPostgres,
    _die_with_parent,
    port_is_free,
)
from tierline_shared.migrate import SERVICES, upgrade
from tierline_shared.settings import Settings, load_settings

DEMO_ROSTER = Path(__file__).resolve().parent / "demo" / "agents.yaml"


async def create_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server that ``server_url`` points to, if missing."""
    dsn = server_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


@dataclass
class ServiceProcesses:
    """The four services as child processes, sharing one environment."""

    env: dict[str, str]
    services: tuple[str, ...] = SERVICES
    log_dir: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, service: str) -> subprocess.Popen[bytes]:
        out = (open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115
               if self.log_dir else None)
        proc = subprocess.Popen([sys.executable, "-m", "tierline_shared.cli", "serve", service],
                                env=self.env, stdout=out, stderr=subprocess.STDOUT if out else None,
                                start_new_session=True, preexec_fn=_die_with_parent)
        self.procs[service] = proc
        return proc

    def start_all(self) -> None:
        for service in self.services:
            self.start(service)

    def stop(self, service: str, sig: int = signal.SIGTERM, timeout_s: float = 25) -> None:
        proc = self.procs.pop(service, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def stop_all(self) -> None:
        for service in list(self.procs):
            proc = self.procs[service]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for service in list(self.procs):
            self.stop(service)

    def exited(self) -> dict[str, int]:
        return {s: p.returncode for s, p in self.procs.items() if p.poll() is not None}


def wait_ready(urls: dict[str, str], timeout_s: float = 90,
               procs: ServiceProcesses | None = None, path: str = "readyz") -> None:
    """Wait until every service answers 200 on ``path`` (``healthz``: the process is up)."""
    deadline = time.monotonic() + timeout_s
    pending = dict(urls)
    with httpx.Client(timeout=3) as client:
        while pending and time.monotonic() < deadline:
            if procs is not None and procs.exited():
                raise EmbeddedError(f"service exited during start-up: {procs.exited()}")
            for name, url in list(pending.items()):
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/{path}").status_code == 200:
                        del pending[name]
            time.sleep(0.2)
    if pending:
        raise EmbeddedError(f"not ready after {timeout_s}s: {', '.join(pending)}")


def load_roster(router_url: str, path: Path = DEMO_ROSTER, api_key: str | None = None) -> int:
    """Import a roster file's agents into router in one all-or-none request."""
    roster = yaml.safe_load(path.read_text())
    with httpx.Client(timeout=30, headers=key_header(api_key)) as client:
        response = client.post(f"{router_url}/v1/agents/import",
                               json={"agents": roster["agents"]})
        if response.status_code == 422:
            raise SystemExit(f"{path}: router refused the roster: {response.text}")
        response.raise_for_status()
    return int(response.json()["imported"])


def console_agent_key(router_url: str, admin_key: str) -> tuple[str, str]:
    """A key bound to the demo roster's first agent, to sign in to their console inbox."""
    agent = yaml.safe_load(DEMO_ROSTER.read_text())["agents"][0]["id"]
    response = httpx.post(f"{router_url}/v1/keys", headers=key_header(admin_key), timeout=30,
                          json={"name": f"console {agent}", "agent_id": agent,
                                "scopes": ["agents:write", "tickets:read"]})
    response.raise_for_status()
    return str(agent), str(response.json()["key"])


def key_header(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key} if api_key else {}


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIERLINE_")}
    env.update({
        "TIERLINE_DATABASE_URL": settings.database_url,
        "TIERLINE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "TIERLINE_TOPIC_PREFIX": settings.topic_prefix,
        "TIERLINE_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "TIERLINE_HOST": settings.host,
        "TIERLINE_LOG_LEVEL": settings.log_level,
        "TIERLINE_POLICY_DIR": str(settings.policy_dir),
        **{f"TIERLINE_{s.upper()}_PORT": str(settings.port_for(s)) for s in SERVICES},
        "TIERLINE_CONSOLE_PORT": str(settings.console_port),
        "TIERLINE_ENVIRONMENT": settings.environment,
        "TIERLINE_RATE_LIMIT_PER_S": str(settings.rate_limit_per_s),
        "TIERLINE_RATE_LIMIT_BURST": str(settings.rate_limit_burst),
        "TIERLINE_RATE_LIMIT_SCOPE": settings.rate_limit_scope,
    })
    if settings.bootstrap_admin_key is not None:
        env["TIERLINE_BOOTSTRAP_ADMIN_KEY"] = settings.bootstrap_admin_key.get_secret_value()
    env.update(extra)
    return env


HELP = """
Tierline is running on the embedded stack (PostgreSQL {pg_port}, Kafka-protocol broker {kafka}).
  intake   {intake}   (docs: {intake}/docs)
  router   {router}
  sla      {sla}
  metrics  {metrics}/metrics
  console  {console}   (sign in with the admin key below: the wallboard;
                            or with agent {agent}'s key: their inbox)
Agent {agent}'s API key (development only): {agent_key}
Logs: {logs}
Admin API key of this run (development only): {key}

Try:
  export TIERLINE_API_KEY={key}
  curl -s -X POST {intake}/v1/tickets -H "X-API-Key: $TIERLINE_API_KEY" \\
    -H 'Content-Type: application/json' \\
    -d '{{"title": "VPN keeps disconnecting",
         "description": "The VPN drops every few minutes since this morning",
         "requester": {{"id": "u-1001", "name": "Ada Park", "email": "ada@example.com"}},
         "channel": "portal", "impact": "medium", "urgency": "high"}}'
  curl -s -H "X-API-Key: $TIERLINE_API_KEY" {router}/v1/assignments/<ticket id>
  curl -s -H "X-API-Key: $TIERLINE_API_KEY" {sla}/v1/sla/<ticket id>
  curl -s {metrics}/metrics | grep tierline_tickets_

Press Ctrl-C to stop everything.
"""


def run(settings: Settings | None = None) -> int:
    settings = settings or load_settings()
    busy = [f"{name} {port}" for name, port in
            [("postgres", settings.dev_postgres_port), ("kafka", settings.dev_kafka_port),
             *((s, settings.port_for(s)) for s in (*SERVICES, "console"))]
            if not port_is_free(port)]
    if busy:
        print(f"tierline: ports already in use: {', '.join(busy)}. Stop what holds them or set "
              "TIERLINE_DEV_POSTGRES_PORT, TIERLINE_DEV_KAFKA_PORT, TIERLINE_<SERVICE>_PORT.",
              file=sys.stderr)
        return 2
    base = (settings.dev_data_dir or Path.cwd() / ".tierline" / "dev").resolve()
    base.mkdir(parents=True, exist_ok=True)
    logs = base / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    postgres = EmbeddedPostgres(base / "pgdata", settings.dev_postgres_port)
    kafka = EmbeddedKafka(settings.dev_kafka_port, log_path=logs / "broker.log")
    procs: ServiceProcesses | None = None

    def on_sigterm(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Install explicitly: a shell starting us in the background may have set SIGINT to ignore.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGHUP, on_sigterm)
    try:
        print("starting PostgreSQL and the broker ...", flush=True)
        postgres.remove()  # each run starts from an empty database (the broker is in memory)
        postgres.start()
        kafka.start()
        asyncio.run(create_database(postgres.url(), "tierline"))
        key = settings.bootstrap_admin_key
        if key is None:
            key = SecretStr(generate().plaintext)
        settings = settings.model_copy(update={
            "database_url": postgres.url("tierline"), "bootstrap_admin_key": key,
            "kafka_bootstrap_servers": kafka.bootstrap_servers})
        print("applying migrations ...", flush=True)
        upgrade(settings.database_url)
        procs = ServiceProcesses(env=service_env(settings), log_dir=logs)
        procs.start_all()
        urls = {s: settings.url_for(s) for s in SERVICES}
        wait_ready(urls, procs=procs)
        count = load_roster(urls["router"], api_key=key.get_secret_value())
        print(f"loaded a demo roster of {count} agents", flush=True)
        agent, agent_key = console_agent_key(urls["router"], key.get_secret_value())
        procs.start("console")
        urls["console"] = settings.url_for("console")
        wait_ready({"console": urls["console"]}, procs=procs)
        print(HELP.format(pg_port=settings.dev_postgres_port, kafka=kafka.bootstrap_servers,
                          logs=logs, key=key.get_secret_value(), agent=agent,
                          agent_key=agent_key, **urls), flush=True)
        while not procs.exited():
            time.sleep(0.3)
        print(f"tierline: a service stopped unexpectedly: {procs.exited()}; see {logs}",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    except (EmbeddedError, httpx.HTTPError, OSError) as exc:
        print(f"tierline: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        print("stopping ...", flush=True)
        if procs is not None:
            procs.stop_all()
        kafka.stop()
        postgres.remove()
        print("stopped.", flush=True)
