"""The one Kafka client configuration every producer, consumer and admin client gets."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from tierline_shared.bus.kafka import FileToken, KafkaClient
from tierline_shared.bus.topic_plan import plan, strimzi
from tierline_shared.bus.topics import Topics
from tierline_shared.settings import Settings

CA = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")


def kwargs(**settings: object) -> dict[str, object]:
    return KafkaClient.from_settings(Settings(**settings)).kwargs()  # type: ignore[arg-type]


def test_plaintext_by_default() -> None:
    assert kwargs(kafka_bootstrap_servers="k:9092") == {
        "bootstrap_servers": "k:9092", "security_protocol": "PLAINTEXT"}


def test_ssl_with_a_ca_and_hostname_checks() -> None:
    out = kwargs(kafka_security_protocol="SSL", kafka_ssl_cafile=CA)
    context = out["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert context.get_ca_certs()  # the CA bundle was loaded
    assert "sasl_mechanism" not in out


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_with_a_password(mechanism: str) -> None:
    out = kwargs(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism,
                 kafka_sasl_username="tierline", kafka_sasl_password="s3cret")
    assert (out["security_protocol"], out["sasl_mechanism"], out["sasl_plain_username"],
            out["sasl_plain_password"]) == ("SASL_SSL", mechanism, "tierline", "s3cret")
    assert isinstance(out["ssl_context"], ssl.SSLContext)


def test_sasl_plaintext_has_no_tls() -> None:
    out = kwargs(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                 kafka_sasl_username="u", kafka_sasl_password="p")
    assert "ssl_context" not in out


async def test_oauthbearer_reads_the_token_file_at_each_connection(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    out = kwargs(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="OAUTHBEARER",
                 kafka_sasl_oauth_token_file=token)
    provider = out["sasl_oauth_token_provider"]
    assert isinstance(provider, FileToken)
    assert await provider.token() == "first"
    token.write_text("rotated\n")
    assert await provider.token() == "rotated"


@pytest.mark.parametrize(("settings", "message"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "kafka_sasl_mechanism is required"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
      "kafka_sasl_username": "u"}, "kafka_sasl_password are required"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
     "kafka_sasl_oauth_token_file is required"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "/c.pem"},
     "kafka_ssl_certfile and kafka_ssl_keyfile go together"),
    ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
])
def test_incomplete_security_settings_are_refused(settings: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**settings)


def test_secrets_are_read_from_files_as_kubernetes_mounts_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    password = tmp_path / "password"
    password.write_text("from-a-secret\n")
    monkeypatch.setenv("TIERLINE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TIERLINE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TIERLINE_KAFKA_SASL_USERNAME", "tierline")
    monkeypatch.setenv("TIERLINE_KAFKA_SASL_PASSWORD_FILE", str(password))
    db = tmp_path / "db"
    db.write_text("postgres://app:pw@db:5432/tierline")
    monkeypatch.setenv("TIERLINE_DATABASE_URL_FILE", str(db))
    settings = Settings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "from-a-secret"
    assert settings.database_url == "postgresql+asyncpg://app:pw@db:5432/tierline"
    assert KafkaClient.from_settings(settings).kwargs()["sasl_plain_password"] == "from-a-secret"


def test_a_setting_and_its_file_together_or_a_missing_file_are_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIERLINE_KAFKA_SASL_PASSWORD_FILE", str(tmp_path / "absent"))
    with pytest.raises(ValueError, match="TIERLINE_KAFKA_SASL_PASSWORD_FILE: cannot read"):
        Settings()
    (tmp_path / "absent").write_text("x")
    monkeypatch.setenv("TIERLINE_KAFKA_SASL_PASSWORD", "y")
    with pytest.raises(ValueError, match="not both"):
        Settings()


def test_replayed_topics_are_kept_for_good_and_writes_need_two_replicas() -> None:
    settings = Settings(topic_replication_factor=3, topic_partitions=6)
    topics = Topics()
    rows = {name: (p, r, c) for name, p, r, c in plan(settings)}
    assert set(rows) == set(topics.all())
    for name, (partitions, replicas, configs) in rows.items():
        assert (partitions, replicas) == (6, 3)
        assert configs["min.insync.replicas"] == "2"
        kept = name in topics.replayed or name == topics.deadletter
        assert (configs.get("retention.ms") == "-1") == kept, name
    assert Settings(topic_replication_factor=1).min_insync_replicas == 1


def test_strimzi_topics_in_deploy_are_what_tierline_topics_prints() -> None:
    root = Path(__file__).resolve().parents[2]
    shipped = (root / "deploy/kubernetes/base/topics.yaml").read_text()
    settings = Settings(topic_replication_factor=3, topic_partitions=6)
    assert shipped.split("\n", 2)[2] == strimzi(settings, "tierline")
