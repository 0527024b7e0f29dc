"""Secrets at rest: desk credentials and inbound secrets are Fernet tokens (AES-128-CBC with
an HMAC-SHA256, from ``cryptography``) under ``settings.desk_secrets_key``. Nothing outside
this module sees a plain secret except the request that uses it."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

REDACTED = "***"


class Vault:
    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def open(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ValueError("a sealed secret does not open with desk_secrets_key: was the "
                             "key changed?") from None


def redacted(credentials: dict[str, Any]) -> dict[str, str]:
    """Which credential fields are set, never their values (for answers, logs and audit)."""
    return {name: REDACTED for name in sorted(credentials)}


def check_key(key: str, environment: str, placeholder: str) -> None:
    """Refuse a key that is not a Fernet key, or the published placeholder in production."""
    try:
        Fernet(key.encode())
    except ValueError:
        raise ValueError("TIERLINE_DESK_SECRETS_KEY must be a Fernet key, urlsafe base64 of "
                         "32 bytes (python -c 'from cryptography.fernet import Fernet; "
                         "print(Fernet.generate_key().decode())')") from None
    if environment == "production" and key == placeholder:
        raise ValueError("TIERLINE_DESK_SECRETS_KEY is the published development placeholder: "
                         "set a key of your own in production")
