"""The production artefacts, validated with the tools that run here (no Docker engine)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tierline_shared.migrate import SERVICES
from tierline_shared.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULTS = Settings()


def test_compose_file_matches_the_compose_spec() -> None:
    result = subprocess.run([str(BIN / "check-jsonschema"), "--builtin-schema",
                             "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_kafka_kraft_postgres_prometheus_and_two_replicas_of_each_service() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["migrate"]["command"] == ["migrate"]
    for name in SERVICES:
        service = services[name]
        assert service["command"] == ["serve", name]
        assert service["deploy"]["replicas"] == 2
        assert service["build"]["context"] == "."
        env = service["environment"]
        assert env["TIERLINE_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        Settings(**{k.removeprefix("TIERLINE_").lower(): v for k, v in env.items()})
        container_port = service["ports"][0].rsplit(":", 1)[1]
        assert int(container_port) == DEFAULTS.port_for(name)
    console = services["console"]
    assert console["command"] == ["serve", "console"] and console["ports"] == ["8005:8005"]
    env = {k.removeprefix("TIERLINE_").lower(): v for k, v in console["environment"].items()}
    settings = Settings(**env | {"service_urls": json.loads(env["service_urls"])})
    assert {s: settings.reach(s) for s in SERVICES} == {
        s: f"http://{s}:{DEFAULTS.port_for(s)}" for s in SERVICES}


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in config["scrape_configs"]}
    for name in SERVICES:
        assert jobs[f"tierline-{name}"]["names"] == [name]
        assert jobs[f"tierline-{name}"]["port"] == DEFAULTS.port_for(name)
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    assert all(rule["expr"] for group in rules["groups"] for rule in group["rules"])


def test_prometheus_on_kubernetes_scrapes_every_pod_through_headless_services(
        tmp_path: Path) -> None:
    """DNS discovery on a headless Service (one A record per pod), with the job names the
    alerts use; promtool checks the file."""
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus-kubernetes.yml").read_text())
    jobs = {job["job_name"]: job["dns_sd_configs"][0] for job in config["scrape_configs"]}
    manifests = [d for name in SERVICES for d in yaml.safe_load_all(
        (ROOT / f"deploy/kubernetes/base/{name}.yaml").read_text()) if d]
    headless = {d["metadata"]["name"]: d for d in manifests
                if d["kind"] == "Service" and d["spec"].get("clusterIP") == "None"}
    for name in SERVICES:
        assert jobs[f"tierline-{name}"]["names"] == [f"{name}-pods.tierline.svc.cluster.local"]
        assert jobs[f"tierline-{name}"]["port"] == DEFAULTS.port_for(name)
        assert headless[f"{name}-pods"]["spec"]["ports"][0]["port"] == DEFAULTS.port_for(name)
    (tmp_path / "alerts.yml").write_text((ROOT / "deploy/prometheus/alerts.yml").read_text())
    copy = dict(config, rule_files=[str(tmp_path / "alerts.yml")])
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(copy))
    checked = promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([str(BIN / "hadolint"), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def _dockerfile_steps() -> tuple[list[list[str]], list[str]]:
    copies, runs = [], []
    logical = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    for line in logical.splitlines():
        line = line.strip()
        if line.startswith("COPY "):
            copies.append(shlex.split(line)[1:])
        elif line.startswith("RUN "):
            runs.append(line[4:])
    return copies, runs


@pytest.mark.db
def test_dockerfile_steps_run_as_a_script_and_the_result_migrates(
        tmp_path: Path, databases) -> None:
    """Replay the image build here: COPY into a folder, RUN with a fresh venv's python, then
    use the installed ``tierline`` command as the image's entrypoint would."""
    app = tmp_path / "app"
    app.mkdir()
    copies, runs = _dockerfile_steps()
    for *sources, dest in copies:
        for source in sources:
            src = ROOT / source
            target = app / src.name if dest == "./" else app / dest.removeprefix("./")
            if src.is_dir():
                shutil.copytree(src, target,
                                ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy(src, target)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    for command in runs:
        command = command.replace("useradd", "true useradd")  # no users are added here
        result = subprocess.run(command, shell=True, cwd=app, env=env, capture_output=True,
                                text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    shipped = subprocess.run([str(venv / "bin" / "python"), "-c",
                              "from tierline_intake.tickets.categorizer import CORPUS; "
                              "from tierline_shared.settings import POLICY_DIR; "
                              "assert CORPUS.is_file(), CORPUS; "
                              "assert (POLICY_DIR / 'taxonomy.yaml').is_file()"],
                             cwd=tmp_path, capture_output=True, text=True)
    assert shipped.returncode == 0, shipped.stderr
    url = databases.create(migrate=False)
    migrated = subprocess.run([str(venv / "bin" / "tierline"), "migrate"], cwd=tmp_path,
                              env={**env, "TIERLINE_DATABASE_URL": url}, capture_output=True,
                              text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    async def tables() -> set[str]:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            rows = await conn.fetch("SELECT schemaname || '.' || tablename AS t FROM pg_tables")
            return {r["t"] for r in rows}
        finally:
            await conn.close()

    found = asyncio.run(tables())
    assert {"intake.tickets", "router.agents", "router.assignments", "sla.clocks",
            "metrics.ticket_facts"} <= found
    for name in SERVICES:
        assert f"{name}.outbox" in found and f"{name}.alembic_version" in found


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """promtool from the virtual environment (make install puts it there)."""
    return subprocess.run([str(BIN / "promtool"), *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_alert_rules_pass_promtool_and_their_unit_tests() -> None:
    checked = promtool("check", "rules", "deploy/prometheus/alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # SLA breach rate, consumer lag, dead-letter growth and backlog age fire on the series
    # that should fire them, and stay quiet on a quiet hour.
    tested = promtool("test", "rules", "alerts_test.yml", cwd=ROOT / "deploy/prometheus")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def alert_rules() -> list[dict]:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_every_alert_has_a_unit_test_that_fires_it_and_a_runbook() -> None:
    tests = yaml.safe_load((ROOT / "deploy/prometheus/alerts_test.yml").read_text())
    fired = {case["alertname"] for group in tests["tests"]
             for case in group.get("alert_rule_test", []) if case.get("exp_alerts")}
    silent = {case["alertname"] for group in tests["tests"]
              for case in group.get("alert_rule_test", []) if not case.get("exp_alerts")}
    names = {rule["alert"] for rule in alert_rules()}
    assert names - fired == set(), "alerts no unit test expects to fire"
    assert names - silent == set(), "alerts no unit test expects to stay silent"
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbooks/") and url.endswith(".md"), rule["alert"]
        runbook = (ROOT / url).read_text()
        assert rule["alert"] in runbook, f"{url} does not say what to do for {rule['alert']}"
        assert "## Check" in runbook and "## Act" in runbook, url


def test_the_unit_tests_catch_the_old_not_assigned_expression(tmp_path: Path) -> None:
    """max() of single series missed unassigned work spread over several priorities, and
    counted deflected tickets that are never assigned: the unit tests must fail on it."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        if rule.get("alert") == "TierlineTicketsNotAssigned":
            rule["expr"] = ("(max(tierline_tickets_created_total) "
                            "- max(tierline_tickets_assigned_total)) > 50")
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    shutil.copy(ROOT / "deploy/prometheus/alerts_test.yml", tmp_path)
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "TierlineTicketsNotAssigned" in tested.stdout + tested.stderr


def exposed_names() -> set[str]:
    """Every metric family the services expose (metrics' collectors and the consumer loop)."""
    from prometheus_client import CollectorRegistry
    from sqlalchemy import MetaData

    from tierline_intake.webhooks.service import delivery_counter
    from tierline_metrics.exposition.collectors import register
    from tierline_shared.bus.consumer import ConsumerLoop
    from tierline_shared.bus.handlers import Handlers
    from tierline_shared.bus.outbox_metrics import OutboxDepth
    from tierline_shared.db import bus_tables

    registry = CollectorRegistry()
    register(registry, per_agent=True)
    registry.register(OutboxDepth("x", bus_tables(MetaData(schema="x"))[0]))
    delivery_counter(registry)
    ConsumerLoop(name="x", group_id="x", topics=[], handlers=Handlers(),
                 transaction=None, inbox=None, bootstrap_servers="",  # type: ignore[arg-type]
                 deadletter_topic="", all_topics=[], partitions=1, replication_factor=1,
                 registry=registry)
    return {family.name for family in registry.collect()}


def test_grafana_dashboard_queries_are_valid_promql_on_exposed_series(tmp_path: Path) -> None:
    import json
    import re

    dashboard = json.loads((ROOT / "deploy/grafana/tierline-kpis.json").read_text())
    assert dashboard["uid"] and dashboard["schemaVersion"] >= 36
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows == ["KPIs", "Queues", "SLA risk"]
    queries = [(p["title"], t) for p in panels if p["type"] != "row" for t in p["targets"]]
    assert queries
    for title, target in queries:
        assert target["datasource"]["uid"] == "${datasource}", title
        assert target["refId"] and target["expr"], title
    # promtool parses every query, as recording rules.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": target["expr"]}
        for i, (_, target) in enumerate(queries)]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    known = exposed_names()
    used = {re.sub(r"_(bucket|sum|count|total)$", "", name) for _, target in queries
            for name in re.findall(r"\btierline_[a-z_]+", target["expr"])}
    assert used <= known, used - known
    alerts = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    in_alerts = {re.sub(r"_(bucket|sum|count|total)$", "", name)
                 for group in alerts["groups"] for rule in group["rules"]
                 for name in re.findall(r"\btierline_[a-z_]+", rule["expr"])}
    assert in_alerts <= known, in_alerts - known
