"""Who may call the admin API: a bearer token, or an admin client certificate.

- **Token.** ``Authorization: Bearer <token>`` whose SHA-256 equals the configured one (compared
  in constant time; only the hash is in memory). A presented but wrong token is refused even if
  a certificate would have been accepted: the caller said who it is, and it was not that.
- **Certificate by thumbprint.** The presented leaf's RFC 8705 §3.1 ``x5t#S256`` is one of
  ``admin.client_cert_thumbprints`` and the certificate is within its validity period. The TLS
  handshake (or the trusted proxy) proved possession of its key.
- **Certificate by subject DN.** As ``tls_client_auth`` (RFC 8705 §2.1): the chain is validated
  by the core :class:`ChainVerifier` against the trust anchors, then the leaf's subject must
  equal one of ``admin.client_subject_dns`` as a whole DN.

The certificate is the one the certsource middleware attached (TLS layer or trusted proxy).
Every failure is 401 ``invalid_token`` with a Bearer challenge; the reason stays in ``detail``.
"""

from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass
from typing import Final

from certbound.config._secrets import secret_sha256
from certbound.config.settings import AdminSettings
from certbound.core.endpoints.registration import bearer_token, token_sha256
from certbound.core.errors import InvalidTokenError
from certbound.core.messages import Request
from certbound.core.mtls.certificate import PeerCertificate, thumbprints_equal
from certbound.core.mtls.subject import subject_dn_matches
from certbound.core.mtls.verification import CertificateError, ChainVerifier

__all__ = ["ADMIN_REALM", "AdminCredentials", "AdminPrincipal", "authenticate_admin"]

ADMIN_REALM: Final = "certbound-admin"


class AdminAuthError(InvalidTokenError):
    """401 for the admin API (RFC 6750 §3): no error code when no credential was presented."""

    def __init__(self, detail: str, *, presented: bool) -> None:
        super().__init__("admin credentials are missing or not accepted", detail=detail)
        self.presented = presented

    def headers(self) -> dict[str, str]:
        challenge = f'Bearer realm="{ADMIN_REALM}"'
        return {
            "WWW-Authenticate": challenge + (', error="invalid_token"' if self.presented else "")
        }


@dataclass(frozen=True, slots=True)
class AdminPrincipal:
    """Who called: ``method`` is ``token``, ``certificate_thumbprint`` or ``certificate_dn``;
    ``name`` is a certificate's ``x5t#S256`` (never the token)."""

    method: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AdminCredentials:
    """The configured admin credentials (``[admin]``); :attr:`enabled` when there is one."""

    token_sha256: str | None = None
    thumbprints: tuple[str, ...] = ()
    subject_dns: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.token_sha256 is not None or bool(self.thumbprints or self.subject_dns)

    @classmethod
    def from_settings(cls, admin: AdminSettings) -> AdminCredentials:
        """Read the token (file or env) once; ConfigError naming the key on a bad one."""
        return cls(
            secret_sha256(admin.token, admin.token_file, "admin.token"),
            admin.client_cert_thumbprints,
            admin.client_subject_dns,
        )


def _by_certificate(
    credentials: AdminCredentials, peer: PeerCertificate, verifier: ChainVerifier, now: dt.datetime
) -> AdminPrincipal | None:
    leaf = peer.leaf
    pinned = any(thumbprints_equal(peer.thumbprint, t) for t in credentials.thumbprints)
    if pinned and leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
        return AdminPrincipal("certificate_thumbprint", peer.thumbprint)
    if not credentials.subject_dns:
        return None
    try:
        verifier.verify(peer, at=now)
    except CertificateError:
        return None
    if any(subject_dn_matches(dn, leaf.subject) for dn in credentials.subject_dns):
        return AdminPrincipal("certificate_dn", peer.thumbprint)
    return None


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("ascii"), b.encode("ascii"))


def authenticate_admin(
    credentials: AdminCredentials, request: Request, verifier: ChainVerifier, now: dt.datetime
) -> AdminPrincipal:
    """The caller, or :class:`AdminAuthError` (401)."""
    presented = request.headers.get("authorization") is not None
    if presented:
        token, expected = bearer_token(request), credentials.token_sha256
        if token is not None and expected is not None and _equal(token_sha256(token), expected):
            return AdminPrincipal("token")
        raise AdminAuthError("admin bearer token not accepted", presented=True)
    if request.peer is not None:
        principal = _by_certificate(credentials, request.peer, verifier, now)
        if principal is not None:
            return principal
        raise AdminAuthError(
            f"certificate {request.peer.thumbprint} is not an admin certificate", presented=True
        )
    raise AdminAuthError("no admin token and no client certificate", presented=False)
