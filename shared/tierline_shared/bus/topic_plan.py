"""What the deployment must provide on the broker: ``tierline topics`` prints it, as a table
or as Strimzi ``KafkaTopic`` resources (``deploy/kubernetes/base/topics.yaml`` is that output,
checked by a test so the two never drift)."""

from __future__ import annotations

import yaml

from tierline_shared.bus.topics import Topics
from tierline_shared.settings import Settings


def plan(settings: Settings) -> list[tuple[str, int, int, dict[str, str]]]:
    """(name, partitions, replication factor, configs) of every topic Tierline uses."""
    topics = Topics(settings.topic_prefix)
    configs = topics.configs(settings.min_insync_replicas)
    return [(name, settings.topic_partitions, settings.topic_replication_factor,
             configs[name]) for name in topics.all()]


def table(settings: Settings) -> str:
    lines = [f"{'topic':<28} {'partitions':>10} {'replicas':>8}  configs"]
    for name, partitions, replicas, configs in plan(settings):
        shown = " ".join(f"{k}={v}" for k, v in sorted(configs.items()))
        lines.append(f"{name:<28} {partitions:>10} {replicas:>8}  {shown}")
    return "\n".join(lines) + "\n"


def strimzi(settings: Settings, cluster: str) -> str:
    """One ``KafkaTopic`` per topic for the Strimzi topic operator of ``cluster``."""
    docs = [{
        "apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic",
        "metadata": {"name": name.replace(".", "-").replace("_", "-").lower(),
                     "labels": {"strimzi.io/cluster": cluster,
                                "app.kubernetes.io/part-of": "tierline"}},
        "spec": {"topicName": name, "partitions": partitions, "replicas": replicas,
                 "config": {k: int(v) for k, v in sorted(configs.items())}},
    } for name, partitions, replicas, configs in plan(settings)]
    return yaml.safe_dump_all(docs, sort_keys=False)
