"""Settings for every Tierline process, read from ``TIERLINE_*`` environment variables.

Nothing reads the environment at import time: services call :func:`load_settings` from
their bootstrap, so tests can build settings explicitly.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

POLICY_DIR = Path(__file__).resolve().parent / "policies"
# Published, so worthless as a secret: good for development and tests only.
DEV_DESK_SECRETS_KEY = "dGllcmxpbmUtZGV2LWtleS1ub3QtYS1zZWNyZXQhISE="


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERLINE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5433/tierline",
        description="SQLAlchemy URL of the PostgreSQL server (asyncpg driver).",
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    startup_wait_s: float = Field(
        default=60.0, ge=0, le=3600, description="how long a starting service waits for "
        "PostgreSQL, retrying with backoff, before it exits non-zero (the broker it does not "
        "wait for: while the broker is away, intake accepts work into its outbox)")
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(default="tierline", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    topic_partitions: int = Field(default=3, ge=1, le=1000)
    topic_replication_factor: int = Field(default=1, ge=1, le=10)
    consumer_max_attempts: int = Field(default=3, ge=1, le=100)
    consumer_retry_backoff_s: float = Field(default=0.2, ge=0)
    consumer_fetch_max_wait_ms: int = Field(
        default=50, ge=1, le=5000, description="how long the broker may hold a fetch while "
        "waiting for data: the floor of each hop's latency on a quiet topic")
    outbox_poll_interval_s: float = Field(default=0.5, gt=0)
    outbox_batch_size: int = Field(default=500, ge=1, le=10000)
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

    # Embedded development stack (``make run``); ignored when services run on their own.
    dev_postgres_port: int = Field(default=5433, ge=1, le=65535)
    dev_kafka_port: int = Field(default=9092, ge=1, le=65535)
    dev_data_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _asyncpg_only(cls, value: str) -> str:
        if not value.startswith("postgresql+asyncpg://"):
            raise ValueError("database_url must use the postgresql+asyncpg:// driver")
        return value

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

    def port_for(self, service: str) -> int:
        return int(getattr(self, f"{service}_port"))

    def url_for(self, service: str) -> str:
        return f"http://{self.host}:{self.port_for(service)}"


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
