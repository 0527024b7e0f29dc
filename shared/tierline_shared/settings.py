"""Settings for every Tierline process, read from ``TIERLINE_*`` environment variables.

Nothing reads the environment at import time: services call :func:`load_settings` from
their bootstrap, so tests can build settings explicitly.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

POLICY_DIR = Path(__file__).resolve().parent / "policies"
# Published, so worthless as a secret: good for development and tests only.
DEV_DESK_SECRETS_KEY = "dGllcmxpbmUtZGV2LWtleS1ub3QtYS1zZWNyZXQhISE="


_DRIVERLESS = ("postgresql://", "postgres://")


def asyncpg_url(url: str) -> str:
    """The URL with SQLAlchemy's asyncpg driver: consoles and operators hand out
    ``postgresql://`` or ``postgres://`` with ``sslmode``; another driver is refused."""
    for scheme in _DRIVERLESS:
        if url.startswith(scheme):
            url = "postgresql+asyncpg://" + url.removeprefix(scheme)
    if not url.startswith("postgresql+asyncpg://"):
        raise ValueError("database_url must be a postgresql://, postgres:// or "
                         "postgresql+asyncpg:// URL")
    # libpq's sslmode (what consoles print) is asyncpg's ssl; asyncpg refuses sslmode.
    return re.sub(r"([?&])sslmode=", r"\1ssl=", url)


class FileVariables(PydanticBaseSettingsSource):
    """``TIERLINE_<NAME>_FILE=/path``: the setting's value is the file's content (without its
    final newline), as Kubernetes mounts secrets. Setting both forms is an error."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            variable = f"TIERLINE_{name.upper()}"
            path = os.environ.get(f"{variable}_FILE")
            if not path:
                continue
            if variable in os.environ:
                raise ValueError(f"set {variable} or {variable}_FILE, not both")
            try:
                values[name] = Path(path).read_text().removesuffix("\n")
            except OSError as exc:
                raise ValueError(f"{variable}_FILE: cannot read {path}: {exc.strerror}") \
                    from exc
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, FileVariables(settings_cls), dotenv_settings,
                file_secret_settings)

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5433/tierline",
        description="URL of the PostgreSQL server: postgresql://, postgres:// or "
        "postgresql+asyncpg:// (all run on asyncpg).",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    startup_wait_s: float = Field(
        default=60.0, ge=0, le=3600, description="how long a starting service waits for "
        "PostgreSQL, retrying with backoff, before it exits non-zero (the broker it does not "
        "wait for: while the broker is away, intake accepts work into its outbox)")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = \
        "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] \
        | None = Field(default=None, description="required with SASL_PLAINTEXT and SASL_SSL")
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = Field(
        default=None, description="or TIERLINE_KAFKA_SASL_PASSWORD_FILE: a file holding it")
    kafka_sasl_oauth_token_file: Path | None = Field(
        default=None, description="OAUTHBEARER: a file holding the token, re-read at each "
        "connection (kept fresh by whatever issues it)")
    kafka_ssl_cafile: Path | None = Field(default=None, description="CA bundle that signed "
                                          "the brokers' certificates (default: the system's)")
    kafka_ssl_certfile: Path | None = Field(default=None, description="client certificate "
                                            "(PEM) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(default=None, description="its private key (PEM)")
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    kafka_manage_topics: bool = Field(
        default=True, description="create missing topics with their configs at start; off "
        "when the deployment owns them (Strimzi KafkaTopic, ACLs without CREATE)")
    kafka_min_insync_replicas: int | None = Field(
        default=None, ge=1, le=10, description="min.insync.replicas of the topics Tierline "
        "creates (default: 2 when the replication factor allows, else 1)")
    topic_prefix: str = Field(default="tierline", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    consumer_max_attempts: int = Field(default=3, ge=1, le=100)
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    consumer_fetch_max_wait_ms: int = Field(
        default=5, ge=1, le=5000, description="how long the broker may hold a fetch while "
        "waiting for data: on the embedded broker, which answers a held fetch only when the "
        "wait ends, the floor of each hop's latency on a quiet topic; Apache Kafka answers as "
        "soon as data arrives, so production sets 500 and saves the idle polling")
    outbox_poll_interval_s: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10000)
    outbox_depth_interval_s: float = Field(
        default=5.0, gt=0, description="how often each service reads its outbox depth and "
        "oldest event's age for /metrics")
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    bootstrap_admin_key: SecretStr | None = Field(
        default=None, description="an admin API key (tl_<id>_<secret>) every service accepts "
        "without storing it: development and tests only, refused in production")
    auth_cache_ttl_s: float = Field(
        default=5.0, ge=0, le=60, description="how long a process trusts what it read about "
        "a key: a revocation takes effect within this long")
    rate_limit_per_s: float = Field(default=100.0, gt=0, description="requests per second "
                                    "each API key may make, sustained")
    rate_limit_burst: int = Field(default=200, ge=1, description="requests a key may make "
                                  "at once before the sustained rate applies")
    rate_limit_scope: Literal["cluster", "process"] = Field(
        default="cluster", description="where each key's bucket is kept: cluster, one row per "
        "key in PostgreSQL shared by every process and replica (one statement per request); "
        "process, in memory, so each process grants the full allowance on its own")
    desk_secrets_key: SecretStr = Field(
        default=SecretStr(DEV_DESK_SECRETS_KEY), description="the Fernet key (urlsafe base64 "
        "of 32 bytes) that encrypts desk connection credentials and webhook Authorization "
        "headers at rest; the default is a published placeholder, which intake refuses to "
        "start with in production")
    metrics_require_key: bool = Field(default=False, description="ask for a key with the "
                                      "reports:read scope on /metrics")
    log_level: str = "INFO"
    policy_dir: Path = POLICY_DIR
    corpus_path: Path | None = Field(
        default=None, description="CSV of example tickets the categorizer trains on; "
        "default: the corpus shipped with intake")
    autoclose_after_hours: float = Field(default=72.0, gt=0, description="a resolved ticket "
                                         "with no customer reply closes after this long")
    autoclose_check_interval_s: float = Field(default=30.0, gt=0)
    metrics_refresh_interval_s: float = Field(
        default=1.0, gt=0, description="how often metrics re-reads its ticket counters from "
        "the read model (not once per consumed batch: that would scale with traffic)")
    sla_timer_interval_s: float = Field(
        default=0.25, gt=0, le=1.0, description="how often sla looks for due SLA timers and "
        "major incident update reminders; each fires within this long of its due time")
    router_offer_timeout_s: float | None = Field(
        default=None, gt=0, description="how long an agent has to accept an offer; overrides "
        "offer_timeout_s in routing.yaml when set")
    router_job_interval_s: float = Field(
        default=0.5, gt=0, le=5.0, description="how often router expires unanswered offers "
        "and reviews waiting work whose aging or skill expansion step is due")
    router_sweep_interval_s: float = Field(
        default=5.0, gt=0, description="how often router retries the head of each queue, "
        "in case capacity freed while a ticket was being queued")

    clock_speed: float = Field(
        default=1.0, gt=0, le=10000, description="simulated seconds per real second; above 1 "
        "only for simulations (tierline simulate)")
    clock_start: datetime | None = Field(
        default=None, description="the simulated time at clock_real_start (simulations)")
    clock_real_start: float | None = Field(
        default=None, description="Unix time at which the simulated clock read clock_start")

    host: str = "127.0.0.1"
    intake_port: int = Field(default=8001, ge=1, le=65535)
    router_port: int = Field(default=8002, ge=1, le=65535)
    sla_port: int = Field(default=8003, ge=1, le=65535)
    metrics_port: int = Field(default=8004, ge=1, le=65535)
    console_port: int = Field(default=8005, ge=1, le=65535)
    service_urls: dict[str, str] = Field(
        default_factory=dict, description="where the console reaches each service (JSON, "
        'e.g. {"intake": "http://intake:8001"}); a service not named is at http://HOST:PORT')

    # Embedded development stack (``make run``); ignored when services run on their own.
    dev_postgres_port: int = Field(default=5433, ge=1, le=65535)
    dev_kafka_port: int = Field(default=9092, ge=1, le=65535)
    dev_data_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _asyncpg_only(cls, value: str) -> str:
        return asyncpg_url(value)

    @model_validator(mode="after")
    def _no_bootstrap_key_in_production(self) -> Settings:
        from tierline_shared.auth.keys import parse

        key = self.bootstrap_admin_key
        if key is None:
            return self
        if self.environment == "production":
            raise ValueError("bootstrap_admin_key is for development and tests only: create "
                             "keys with `tierline keys create` in production")
        if parse(key.get_secret_value()) is None:
            raise ValueError("bootstrap_admin_key must look like tl_<12 hex>_<48 hex>")
        return self

    @model_validator(mode="after")
    def _kafka_credentials_complete(self) -> Settings:
        protocol, mechanism = self.kafka_security_protocol, self.kafka_sasl_mechanism
        if protocol.startswith("SASL"):
            if mechanism is None:
                raise ValueError(f"kafka_sasl_mechanism is required with {protocol}")
            if mechanism == "OAUTHBEARER" and self.kafka_sasl_oauth_token_file is None:
                raise ValueError("kafka_sasl_oauth_token_file is required with OAUTHBEARER")
            if mechanism != "OAUTHBEARER" and (self.kafka_sasl_username is None
                                               or self.kafka_sasl_password is None):
                raise ValueError(f"kafka_sasl_username and kafka_sasl_password are required "
                                 f"with {mechanism}")
        if (self.kafka_ssl_keyfile is None) != (self.kafka_ssl_certfile is None):
            raise ValueError("kafka_ssl_certfile and kafka_ssl_keyfile go together")
        return self

    @property
    def min_insync_replicas(self) -> int:
        return self.kafka_min_insync_replicas or min(2, self.topic_replication_factor)

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def url_for(self, service: str) -> str:
        return f"http://{self.host}:{self.port_for(service)}"

    def reach(self, service: str) -> str:
        """The URL another process calls ``service`` on (the console's upstreams)."""
        return self.service_urls.get(service) or self.url_for(service)


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
