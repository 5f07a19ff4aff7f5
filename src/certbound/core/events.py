"""Typed events of the protocol core, emitted through the :class:`~certbound.core.ports.EventSink`.

The audit log and the metrics are fed from these values only (STYLE.md rule 4: a translated domain
error keeps its reason in ``detail`` and in an event). Events never carry secrets: a certificate is
named by its RFC 8705 §3.1 ``x5t#S256`` thumbprint, a token by its ``jti``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "ClientAuthFailed",
    "ClientAuthenticated",
    "RequestRejected",
    "RevocationIgnored",
    "TokenIntrospected",
    "TokenIssued",
    "TokenRevoked",
]


@dataclass(frozen=True, slots=True)
class ClientAuthFailed:
    """RFC 8705 §2 / RFC 6749 §5.2: a client could not be authenticated (answered ``invalid_client``,
    or ``invalid_request`` when ``client_id`` was missing).

    ``reason`` is a short machine-readable cause (see
    :class:`certbound.core.client_auth.AuthFailureReason`, or a
    :class:`~certbound.core.mtls.verification.CertificateErrorReason` value for a rejected chain);
    ``detail`` is the private, human-readable explanation.
    """

    kind: ClassVar[str] = "client_auth_failed"

    client_id: str | None
    method: str | None
    reason: str
    detail: str
    cert_thumbprint: str | None


@dataclass(frozen=True, slots=True)
class ClientAuthenticated:
    """A client proved its identity with its registered method (RFC 8705 §2.1 or §2.2)."""

    kind: ClassVar[str] = "client_authenticated"

    client_id: str
    method: str
    cert_thumbprint: str | None


@dataclass(frozen=True, slots=True)
class TokenIssued:
    """An access token was issued (RFC 6749 §5.1); ``cnf_thumbprint`` is the RFC 8705 §3.1
    ``x5t#S256`` it is bound to, or None for an unbound token."""

    kind: ClassVar[str] = "token_issued"

    client_id: str
    jti: str
    grant_type: str
    scope: tuple[str, ...]
    cnf_thumbprint: str | None


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """An endpoint answered with an OAuth error; ``detail`` is the error's private detail."""

    kind: ClassVar[str] = "request_rejected"

    endpoint: str
    error: str
    status: int
    detail: str | None


@dataclass(frozen=True, slots=True)
class TokenIntrospected:
    """RFC 7662 §2: ``client_id`` asked about a token. ``jti`` is the token's id when the token
    is one of this server's (None for garbage); ``reason`` says why it was (in)active:
    ``active``, ``revoked``, ``not_permitted`` (another client's token) or the verification
    failure (``invalid_token: …``)."""

    kind: ClassVar[str] = "token_introspected"

    client_id: str
    jti: str | None
    active: bool
    reason: str


@dataclass(frozen=True, slots=True)
class TokenRevoked:
    """RFC 7009 §2.1: ``client_id`` revoked its own token ``jti``, which expires at ``expires_at``."""

    kind: ClassVar[str] = "token_revoked"

    client_id: str
    jti: str
    expires_at: int


@dataclass(frozen=True, slots=True)
class RevocationIgnored:
    """RFC 7009 §2.2: a revocation request answered 200 without revoking anything: the token is
    not a valid token of this server (``invalid_token: …``) or belongs to another client
    (``not_permitted``)."""

    kind: ClassVar[str] = "revocation_ignored"

    client_id: str
    jti: str | None
    reason: str
