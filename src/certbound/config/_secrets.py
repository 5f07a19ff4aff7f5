"""Bearer secrets from the configuration (admin token, initial access token): read once at
start-up, checked, and kept only as their SHA-256 (hex); the plaintext is not retained."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Final

from certbound.config.settings import ConfigError, Secret

__all__ = ["MIN_SECRET_LENGTH", "secret_sha256"]

# 16 characters of a random token_urlsafe() carry 96 bits; anything shorter is a password.
MIN_SECRET_LENGTH: Final = 16
_TOKEN_CHARS: Final = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/="
)


def secret_sha256(value: Secret | None, file: Path | None, key: str) -> str | None:
    """The SHA-256 of the secret in ``value`` or in ``file`` (first line), or None when neither
    is set. ConfigError naming ``key`` when the file is unreadable or the secret is too short or
    not a bearer token (RFC 6750 §2.1 characters)."""
    if file is not None:
        try:
            lines = file.read_text("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{key}_file: cannot read {file}: {exc}") from None
        secret = lines[0].strip() if lines else ""
        where = f"{key}_file {file}"
    elif value is not None:
        secret, where = value.get_secret_value().strip(), key
    else:
        return None
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(f"{where}: the token must be at least {MIN_SECRET_LENGTH} characters")
    if not set(secret) <= _TOKEN_CHARS:
        raise ConfigError(f"{where}: the token may only use A-Z a-z 0-9 - . _ ~ + / =")
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()
