"""Signed-in browsers, pure: a random session id in an HttpOnly cookie maps to the API key
and what it may see; the key itself never leaves the server. Time is passed in."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Identity:
    """What the key behind a session is: its name, scopes and bound agent."""

    key_id: str
    name: str
    scopes: frozenset[str]
    agent_id: str | None

    @property
    def supervisor(self) -> bool:
        return bool(self.scopes & {"admin", "agents:admin"})


@dataclass
class Session:
    api_key: str
    who: Identity
    csrf: str
    expires_at: float


@dataclass
class SessionStore:
    """Sessions of this process (the console keeps no table: signing in again after a
    restart is the price), idle-expired after ``ttl_s``."""

    ttl_s: float
    max_sessions: int = 10_000
    _by_id: dict[str, Session] = field(default_factory=dict)

    def open(self, api_key: str, who: Identity, now: float) -> tuple[str, Session]:
        if len(self._by_id) >= self.max_sessions:
            self._by_id = {k: s for k, s in self._by_id.items() if s.expires_at > now}
            while len(self._by_id) >= self.max_sessions:
                self._by_id.pop(next(iter(self._by_id)))
        sid = secrets.token_urlsafe(32)
        session = Session(api_key, who, secrets.token_urlsafe(32), now + self.ttl_s)
        self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None, now: float) -> Session | None:
        session = self._by_id.get(sid) if sid else None
        if session is None:
            return None
        if session.expires_at <= now:
            del self._by_id[sid]  # type: ignore[arg-type]
            return None
        session.expires_at = now + self.ttl_s
        return session

    def close(self, sid: str | None) -> None:
        if sid:
            self._by_id.pop(sid, None)


def csrf_ok(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf, sent)
