"""The single composition root: Settings → stores, keys, trust, policies, Provider.

Nothing else reads Settings on the request path: the core receives narrow frozen policy slices.
"""

from __future__ import annotations

import time
from pathlib import Path

from certbound.config.settings import ConfigError, Settings
from certbound.core.mtls.verification import TrustStore
from certbound.core.policy import ServerPolicy

__all__ = ["load_trust_store", "server_policy", "system_clock"]


def server_policy(settings: Settings) -> ServerPolicy:
    return ServerPolicy(
        issuer=settings.issuer,
        mtls_base_url=settings.mtls_base_url,
        access_token_lifetime=settings.tokens.access_token_lifetime,
        access_token_audience=settings.tokens.audience,
        client_auth_methods=settings.mtls.client_auth_methods,
        allow_jwks_uri_private=settings.mtls.allow_jwks_uri_private,
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from None


def load_trust_store(anchors: Path, crls: tuple[Path, ...] = ()) -> TrustStore:
    """The CA trust store for tls_client_auth (trust.anchors + trust.crls)."""
    pem = _read(anchors, "trust.anchors")
    crl_data = [_read(p, "trust.crls") for p in crls]
    try:
        return TrustStore.from_pem(pem, crl_data)
    except ValueError as exc:
        raise ConfigError(f"trust.anchors {anchors}: {exc}") from None


def system_clock() -> float:
    return time.time()
