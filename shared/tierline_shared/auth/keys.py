"""API keys, pure: the ``tl_<id>_<secret>`` format, hashing, scope checks. No I/O.

The secret is 192 random bits, so a plain SHA-256 of it is as good as a slow hash: there is
no dictionary to attack. Only the hash is stored; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

SCOPES = ("tickets:read", "tickets:write", "customers:read", "customers:write", "kb:read",
          "kb:write", "agents:read", "agents:write", "agents:admin", "reports:read",
          "reports:write", "admin")
_LEVELS = {"read": 0, "write": 1, "admin": 2}
ADMIN = "admin"
_KEY = re.compile(r"^tl_([0-9a-f]{12})_([0-9a-f]{48})$")
AGENT_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


@dataclass(frozen=True)
class NewKey:
    key_id: str
    plaintext: str
    key_hash: str


@dataclass(frozen=True)
class KeyRecord:
    """What a process knows about a key: never the key itself."""

    key_id: str
    name: str
    key_hash: str
    scopes: frozenset[str]
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    agent_id: str | None = None

    def usable_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


def generate() -> NewKey:
    key_id, secret = secrets.token_hex(6), secrets.token_hex(24)
    return NewKey(key_id, f"tl_{key_id}_{secret}", hash_secret(secret))


def parse(key: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, else None."""
    match = _KEY.match(key.strip())
    return (match.group(1), match.group(2)) if match else None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def verify(secret: str, key_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), key_hash)


def validate_scopes(scopes: Iterable[str]) -> frozenset[str]:
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; choose from {', '.join(SCOPES)}")
    if not chosen:
        raise ValueError("a key needs at least one scope")
    return chosen


def allows(granted: Iterable[str], needed: str) -> bool:
    """``admin`` grants everything; on one resource, write grants read and admin both."""
    resource, _, level = needed.partition(":")
    for scope in granted:
        if scope == ADMIN:
            return True
        have_resource, _, have_level = scope.partition(":")
        if have_resource == resource and _LEVELS.get(have_level, -1) >= _LEVELS.get(level, 9):
            return True
    return False


def validate_agent(agent_id: str | None) -> str | None:
    if agent_id is not None and not AGENT_ID.match(agent_id):
        raise ValueError(f"agent id {agent_id!r} is not 1-64 of A-Z a-z 0-9 . _ -")
    return agent_id


def acts_for(bound_agent: str | None, agent_id: str) -> bool:
    """A key bound to an agent acts for that agent only; an unbound key for anyone its
    scopes allow."""
    return bound_agent is None or bound_agent == agent_id
