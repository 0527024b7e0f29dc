"""API keys without I/O: format, hashing, scopes, expiry, token buckets, bootstrap setting."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from tierline_shared.auth.keys import (
    SCOPES,
    KeyRecord,
    allows,
    generate,
    hash_secret,
    parse,
    validate_scopes,
    verify,
)
from tierline_shared.auth.limits import TokenBuckets
from tierline_shared.settings import Settings


def test_a_new_key_parses_back_and_only_its_hash_is_kept() -> None:
    new = generate()
    assert new.plaintext.startswith(f"tl_{new.key_id}_")
    key_id, secret = parse(new.plaintext)
    assert key_id == new.key_id
    assert secret not in new.key_hash and new.key_hash == hash_secret(secret)
    assert verify(secret, new.key_hash)
    assert not verify(secret[:-1] + ("0" if secret[-1] != "0" else "1"), new.key_hash)
    assert generate().plaintext != new.plaintext


@pytest.mark.parametrize("bad", ["", "tl_", "tl_abc_def", "Bearer tl_x", "tl_" + "g" * 12 + "_"
                                 + "0" * 48, "tl_" + "0" * 12 + "_" + "0" * 47])
def test_malformed_keys_do_not_parse(bad: str) -> None:
    assert parse(bad) is None


@pytest.mark.parametrize(("granted", "needed", "ok"), [
    ({"admin"}, "tickets:write", True),
    ({"tickets:write"}, "tickets:read", True),
    ({"tickets:read"}, "tickets:write", False),
    ({"agents:admin"}, "agents:write", True),
    ({"agents:write"}, "agents:admin", False),
    ({"tickets:write"}, "agents:read", False),
    ({"reports:read"}, "admin", False),
    (set(), "tickets:read", False),
])
def test_scopes(granted: set[str], needed: str, ok: bool) -> None:
    assert allows(granted, needed) is ok


def test_unknown_or_no_scopes_are_refused_by_name() -> None:
    assert validate_scopes(["tickets:read"]) == {"tickets:read"}
    with pytest.raises(ValueError, match="tickets:delete"):
        validate_scopes(["tickets:delete"])
    with pytest.raises(ValueError, match="at least one"):
        validate_scopes([])
    assert "admin" in SCOPES


def test_revoked_and_expired_keys_are_unusable() -> None:
    now = datetime(2026, 11, 25, tzinfo=UTC)
    base = KeyRecord("0" * 12, "ops", "h", frozenset({"admin"}))
    assert base.usable_at(now)
    expiring = KeyRecord("0" * 12, "ops", "h", frozenset(), expires_at=now + timedelta(hours=1))
    assert expiring.usable_at(now) and not expiring.usable_at(now + timedelta(hours=1))
    revoked = KeyRecord("0" * 12, "ops", "h", frozenset(), revoked_at=now)
    assert not revoked.usable_at(now)


def test_token_buckets_allow_a_burst_then_the_rate_and_say_when_to_retry() -> None:
    buckets = TokenBuckets(rate_per_s=2, burst=3)
    assert [buckets.take("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", 0.0) == pytest.approx(0.5)
    assert buckets.take("other", 0.0) == 0.0  # per key
    assert buckets.take("k", 0.5) == 0.0  # one token back after half a second
    assert buckets.take("k", 0.5) > 0
    assert buckets.take("k", 100.0) == 0.0  # refilled, capped at the burst
    assert [buckets.take("k", 100.0) for _ in range(3)][-1] > 0


def test_the_bootstrap_key_is_refused_in_production_and_must_be_well_formed() -> None:
    key = generate().plaintext
    assert Settings(bootstrap_admin_key=key, environment="test").bootstrap_admin_key
    with pytest.raises(ValidationError, match="development and tests only"):
        Settings(bootstrap_admin_key=key, environment="production")
    with pytest.raises(ValidationError, match="tl_"):
        Settings(bootstrap_admin_key="secret", environment="development")
    assert key not in repr(Settings(bootstrap_admin_key=key))


def test_every_route_of_every_service_declares_a_scope() -> None:
    from fastapi.routing import APIRoute

    from tierline_intake.app import create_app as intake
    from tierline_metrics.app import create_app as metrics
    from tierline_router.app import create_app as router
    from tierline_shared.auth.deps import route_scopes
    from tierline_sla.app import create_app as sla

    open_paths = {"/healthz", "/readyz", "/metrics",
                  # signed by the desk with its connection's inbound secret instead of a key
                  "/v1/adapters/{system}/connections/{name}"}
    for create in (intake, router, sla, metrics):
        app = create(Settings())
        for route in app.routes:
            if isinstance(route, APIRoute) and route.path not in open_paths:
                assert route_scopes(route), route.path


def test_text_postgresql_cannot_store_is_found_by_field() -> None:
    from tierline_shared.web import _unstorable_field

    assert _unstorable_field({"a": "fine", "b": ["x", "y\x00"]}, "body") == "body.b.1"
    assert _unstorable_field({"a": {"\ud942": 1}}, "body") == "body.a.[key]"
    assert _unstorable_field({"a": "caf\u00e9 \U0001d47b"}, "body") is None
