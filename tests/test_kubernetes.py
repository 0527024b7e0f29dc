"""deploy/kubernetes: the Kustomize base and the production overlay, rendered and checked
against the Kubernetes schemas (kubernetes-validate, offline) and the restricted Pod Security
Standard, plus the shape the services rely on."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.kustomize import pod_spec, render
from tierline_shared.migrate import SERVICES
from tierline_shared.settings import POLICY_DIR, Settings

ROOT = Path(__file__).resolve().parents[1]
KUBE = ROOT / "deploy/kubernetes"
VERSION = "1.32"  # the oldest Kubernetes release still supported upstream at writing
BASE, PRODUCTION = render(KUBE / "base"), render(KUBE / "overlays/production")
RENDERED = {"base": BASE, "production": PRODUCTION}
CRDS = {"ServiceMonitor": "monitoring.coreos.com/v1", "KafkaTopic": "kafka.strimzi.io/v1beta2"}


def settings_of(config: dict[str, str], tmp_path: Path,
                monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings a pod reads from the ConfigMap, from its environment as a pod does (JSON
    values parsed, ``_FILE`` settings read from stand-in files for the mounted Secrets)."""
    for key in [k for k in os.environ if k.startswith("TIERLINE_")]:
        monkeypatch.delenv(key)
    for key, value in config.items():
        if key.endswith("_FILE"):
            stand_in = tmp_path / key
            stand_in.write_text("stand-in\n")
            value = str(stand_in)
        monkeypatch.setenv(key, value)
    return Settings()


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("variant", RENDERED)
def test_every_resource_matches_the_kubernetes_schemas(variant: str) -> None:
    for doc in RENDERED[variant]:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in CRDS:  # not in the core schemas: their API group is checked
            assert doc["apiVersion"] == CRDS[doc["kind"]], name
            continue
        try:
            kubernetes_validate.validate(doc, VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{variant} {name}: {exc.message} at {list(exc.path)}")


def test_the_renderer_agrees_with_kubectl_kustomize_where_kubectl_is_installed() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:  # the renderer is still exercised by every other test here
        return
    out = subprocess.run([kubectl, "kustomize", str(KUBE / "overlays/production")],
                         capture_output=True, text=True, timeout=60, check=True).stdout

    def canonical(docs: list[dict[str, Any]]) -> list[str]:
        def norm(x: Any) -> Any:  # list order aside (kustomize appends merged items)
            if isinstance(x, dict):
                return {k: norm(v) for k, v in x.items()}
            if isinstance(x, list):
                return sorted((norm(i) for i in x), key=lambda i: json.dumps(i, sort_keys=True))
            return x
        return sorted(json.dumps(norm(d), sort_keys=True) for d in docs)

    assert canonical(PRODUCTION) == canonical(list(yaml.safe_load_all(out)))


@pytest.mark.parametrize("variant", RENDERED)
def test_every_workload_meets_the_restricted_pod_security_standard(variant: str) -> None:
    workloads = [d for d in RENDERED[variant] if pod_spec(d) is not None]
    assert {d["kind"] for d in workloads} == {"Deployment", "Job"}
    for doc in workloads:
        spec = pod_spec(doc)
        assert spec is not None
        name = doc["metadata"]["name"]
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            sc = container["securityContext"]
            where = f"{name}/{container['name']}"
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            assert sc.get("runAsNonRoot", pod["runAsNonRoot"]) is True, where
            assert not sc.get("privileged"), where
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, where
            assert container["resources"]["requests"]["memory"], where
            assert container["resources"]["limits"]["memory"], where
    namespace = by_kind(RENDERED[variant], "Namespace")["tierline"]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("variant", RENDERED)
def test_each_service_is_probed_drained_spread_budgeted_and_scaled(variant: str) -> None:
    docs = RENDERED[variant]
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    budgets = by_kind(docs, "PodDisruptionBudget")
    scalers = by_kind(docs, "HorizontalPodAutoscaler")
    defaults = Settings()
    for name in SERVICES:
        deployment = deployments[f"tierline-{name}"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        container = pod["containers"][0]
        assert container["args"] == ["serve", name]
        assert container["ports"][0]["containerPort"] == defaults.port_for(name)
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert pod["terminationGracePeriodSeconds"] > 25  # preStop + uvicorn's 20 s drain
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        assert pod["initContainers"][0]["args"][:2] == ["migrate", "--wait"]
        assert spec["replicas"] >= 2
        labels = spec["selector"]["matchLabels"]
        assert services[name]["spec"]["selector"] == labels
        assert budgets[f"tierline-{name}"]["spec"]["selector"]["matchLabels"] == labels
        assert budgets[f"tierline-{name}"]["spec"]["minAvailable"] < spec["replicas"]
        scaler = scalers[f"tierline-{name}"]["spec"]
        assert scaler["scaleTargetRef"]["name"] == f"tierline-{name}"
        assert scaler["minReplicas"] == spec["replicas"] <= scaler["maxReplicas"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/etc/tierline/policies" in mounts
    ingress = by_kind(docs, "Ingress")["tierline-intake"]
    backends = {p["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
                for p in r["http"]["paths"]}
    assert backends == {"intake"}
    assert by_kind(docs, "NetworkPolicy")


@pytest.mark.parametrize("variant", RENDERED)
def test_settings_in_the_config_map_are_valid_and_the_release_names_the_migration_job(
        variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = RENDERED[variant]
    config = by_kind(docs, "ConfigMap")["tierline"]["data"]
    settings = settings_of(config, tmp_path, monkeypatch)
    assert settings.environment == "production"
    assert settings.policy_dir == Path("/etc/tierline/policies")
    jobs = by_kind(docs, "Job")
    assert len(jobs) == 1
    (name, job), = jobs.items()
    image = job["spec"]["template"]["spec"]["containers"][0]["image"]
    tag = image.rpartition(":")[2]
    assert name == f"tierline-migrate-{re.sub(r'[^a-z0-9]+', '-', tag.lower())}"
    images = {c["image"] for d in docs if (s := pod_spec(d)) is not None
              for c in [*s.get("initContainers", []), *s["containers"]]}
    assert images == {image}, "the Job migrates for the release the Deployments run"


@pytest.mark.parametrize("variant", RENDERED)
def test_the_console_runs_alone_reaches_every_service_and_is_served_through_the_ingress(
        variant: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = RENDERED[variant]
    deployment = by_kind(docs, "Deployment")["tierline-console"]
    spec, defaults = deployment["spec"], Settings()
    # sessions live in its memory: one pod, replaced rather than rolled beside another
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"] == ["serve", "console"]
    assert container["ports"][0]["containerPort"] == defaults.console_port
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    labels = spec["selector"]["matchLabels"]
    assert by_kind(docs, "Service")["console"]["spec"]["selector"] == labels
    config = by_kind(docs, "ConfigMap")["tierline"]["data"]
    urls = settings_of(config, tmp_path, monkeypatch).service_urls
    services = by_kind(docs, "Service")
    for name in SERVICES:  # each URL names the service's Service and port
        host, _, port = urls[name].removeprefix("http://").partition(":")
        assert services[host]["spec"]["ports"][0]["port"] == int(port) == defaults.port_for(name)
    policies = list(by_kind(docs, "NetworkPolicy").values())

    def admitted(component: str, port: int, source: dict[str, Any]) -> bool:
        """Some policy lets ``source`` (a pod's labels or a namespace's) reach ``port`` on
        the ``component``'s pods."""
        for policy in policies:
            selector = policy["spec"]["podSelector"]
            match = selector.get("matchLabels", {})
            if any(v != {"app.kubernetes.io/name": "tierline",
                         "app.kubernetes.io/component": component}.get(k)
                   for k, v in match.items()):
                continue
            if any(e["operator"] == "In" and component not in e["values"]
                   for e in selector.get("matchExpressions", [])):
                continue
            for rule in policy["spec"].get("ingress", []):
                if port not in {p["port"] for p in rule["ports"]}:
                    continue
                for peer in rule["from"]:
                    wanted = (peer.get("podSelector") or peer.get("namespaceSelector") or {}
                              ).get("matchLabels", {})
                    if wanted and all(source.get(k) == v for k, v in wanted.items()):
                        return True
        return False

    for name in SERVICES:
        assert admitted(name, defaults.port_for(name), labels), name
    assert not admitted("intake", defaults.port_for("intake"),
                        {"app.kubernetes.io/name": "tierline",
                         "app.kubernetes.io/component": "router"})
    ingress_ns = {"kubernetes.io/metadata.name": "ingress-nginx"}
    assert admitted("console", defaults.console_port, ingress_ns)
    ingress = by_kind(docs, "Ingress")["tierline-console"]["spec"]
    assert {p["backend"]["service"]["name"] for r in ingress["rules"]
            for p in r["http"]["paths"]} == {"console"}
    assert ingress["tls"][0]["hosts"] == [r["host"] for r in ingress["rules"]]


def test_the_policy_config_map_starts_as_the_shipped_policies() -> None:
    data = by_kind(BASE, "ConfigMap")["tierline-policies"]["data"]
    assert data == {p.name: p.read_text() for p in sorted(POLICY_DIR.glob("*.yaml"))}


def test_production_reads_kafka_over_sasl_ssl_and_leaves_topics_to_strimzi() -> None:
    config = by_kind(PRODUCTION, "ConfigMap")["tierline"]["data"]
    assert config["TIERLINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["TIERLINE_KAFKA_MANAGE_TOPICS"] == "false"
    password = Path(config["TIERLINE_KAFKA_SASL_PASSWORD_FILE"])
    deployments = by_kind(PRODUCTION, "Deployment")
    for name in SERVICES:  # the console talks to the services only, not to Kafka
        mounts = {m["mountPath"] for m in deployments[f"tierline-{name}"]["spec"]["template"]
                  ["spec"]["containers"][0]["volumeMounts"]}
        assert str(password.parent) in mounts
    monitor = by_kind(PRODUCTION, "ServiceMonitor")["tierline"]["spec"]
    scraped = [s for s in by_kind(PRODUCTION, "Service").values()
               if monitor["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert sorted(s["metadata"]["name"] for s in scraped) == sorted(f"{n}-pods" for n in SERVICES)
    assert all(s["spec"]["publishNotReadyAddresses"] for s in scraped)
    topics = [d for d in yaml.safe_load_all((KUBE / "base/topics.yaml").read_text()) if d]
    assert all(t["apiVersion"] == CRDS["KafkaTopic"] for t in topics)
