"""Enough of kustomize to render deploy/kubernetes without the kustomize binary: resources
(files and directories), namespace, images and strategic-merge patches (lists of named items
merged by name or mountPath). A test checks the output against `kubectl kustomize` too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {"Namespace"}
Doc = dict[str, Any]


def render(directory: Path) -> list[Doc]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    docs: list[Doc] = []
    for resource in spec.get("resources", []):
        path = directory / resource
        docs += render(path) if path.is_dir() else [
            d for d in yaml.safe_load_all(path.read_text()) if d]
    for patch in spec.get("patches", []):
        for change in yaml.safe_load_all((directory / patch["path"]).read_text()):
            target = next(d for d in docs if (d["kind"], d["metadata"]["name"])
                          == (change["kind"], change["metadata"]["name"]))
            merge(target, change)
    for image in spec.get("images", []):
        for container in containers(docs):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                container["image"] = (f"{image.get('newName', name)}:"
                                      f"{image.get('newTag', tag)}")
    if "namespace" in spec:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = spec["namespace"]
    return docs


def pod_spec(doc: Doc) -> Doc | None:
    template = doc.get("spec", {}).get("template")
    return template["spec"] if doc["kind"] in ("Deployment", "Job") and template else None


def containers(docs: list[Doc]) -> list[Doc]:
    return [c for d in docs if (spec := pod_spec(d)) is not None
            for c in [*spec.get("initContainers", []), *spec["containers"]]]


def _key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    return next((k for k in ("name", "mountPath") if k in item), None)


def merge(target: Doc, change: Doc) -> None:
    for key, value in change.items():
        current = target.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merge(current, value)
        elif isinstance(value, list) and isinstance(current, list) and value \
                and all(_key(v) for v in [*value, *current]):
            for item in value:
                k = _key(item)
                match = next((c for c in current if c.get(k) == item[k]), None)
                if match is None:
                    current.append(item)
                else:
                    merge(match, item)
        else:
            target[key] = value
