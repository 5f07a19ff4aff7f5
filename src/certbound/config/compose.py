"""The single composition root: Settings → stores, keys, trust, policies, Provider.

Nothing else reads Settings on the request path: the core receives narrow frozen policy slices.
"""

from __future__ import annotations

import time
from pathlib import Path

from cryptography import x509

from certbound.config.settings import ConfigError, Settings
from certbound.core.mtls.verification import TrustStore
from certbound.core.policy import ServerPolicy

__all__ = ["load_intermediates", "load_trust_store", "server_policy", "system_clock"]


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


def load_intermediates(path: Path | None) -> tuple[x509.Certificate, ...]:
    """trust.intermediates: CA certificates that complete client paths (RFC 5280 §6), never anchors.

    Needed behind a proxy that forwards the leaf alone (nginx). A self-signed or non-CA
    certificate here is a configuration mistake (it would look trusted but is not): ConfigError.
    """
    if path is None:
        return ()
    try:
        certs = tuple(x509.load_pem_x509_certificates(_read(path, "trust.intermediates")))
    except ValueError as exc:
        raise ConfigError(f"trust.intermediates {path}: no PEM certificates: {exc}") from None
    for cert in certs:
        name = cert.subject.rfc4514_string()
        if cert.issuer == cert.subject:
            why = "is self-signed; trust anchors belong in trust.anchors"
            raise ConfigError(f"trust.intermediates {path}: {name!r} {why}")
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except (x509.ExtensionNotFound, ValueError):
            is_ca = False
        if not is_ca:
            raise ConfigError(
                f"trust.intermediates {path}: {name!r} is not a CA (basicConstraints)"
            )
    return certs


def system_clock() -> float:
    return time.time()
