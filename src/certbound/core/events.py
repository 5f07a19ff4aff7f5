"""Typed events of the protocol core, emitted through the :class:`~certbound.core.ports.EventSink`.

The audit log and the metrics are fed from these values only (STYLE.md rule 4: a translated domain
error keeps its reason in ``detail`` and in an event). Events never carry secrets: a certificate is
named by its RFC 8705 §3.1 ``x5t#S256`` thumbprint, a token by its ``jti``. Events are frozen
``msgspec`` Structs (built on every request; see :mod:`certbound.core.messages`); ``kind`` is a
class attribute, not a field.
"""

from __future__ import annotations

from typing import ClassVar

from msgspec import Struct

__all__ = [
    "ClientAuthFailed",
    "ClientAuthenticated",
    "RequestRejected",
    "RevocationIgnored",
    "TokenIntrospected",
    "TokenIssued",
    "TokenRevoked",
]


class ClientAuthFailed(Struct, frozen=True):
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


class ClientAuthenticated(Struct, frozen=True):
    """A client proved its identity with its registered method (RFC 8705 §2.1 or §2.2)."""

    kind: ClassVar[str] = "client_authenticated"

    client_id: str
    method: str
    cert_thumbprint: str | None


class TokenIssued(Struct, frozen=True):
    """An access token was issued (RFC 6749 §5.1); ``cnf_thumbprint`` is the RFC 8705 §3.1
    ``x5t#S256`` it is bound to, or None for an unbound token."""

    kind: ClassVar[str] = "token_issued"

    client_id: str
    jti: str
    grant_type: str
    scope: tuple[str, ...]
    cnf_thumbprint: str | None


class RequestRejected(Struct, frozen=True):
    """An endpoint answered with an OAuth error; ``detail`` is the error's private detail."""

    kind: ClassVar[str] = "request_rejected"

    endpoint: str
    error: str
    status: int
    detail: str | None


class TokenIntrospected(Struct, frozen=True):
    """RFC 7662 §2: ``client_id`` asked about a token. ``jti`` is the token's id when the token
    is one of this server's (None for garbage); ``reason`` says why it was (in)active:
    ``active``, ``revoked``, ``not_permitted`` (another client's token) or the verification
    failure (``invalid_token: …``)."""

    kind: ClassVar[str] = "token_introspected"

    client_id: str
    jti: str | None
    active: bool
    reason: str


class TokenRevoked(Struct, frozen=True):
    """RFC 7009 §2.1: ``client_id`` revoked its own token ``jti``, which expires at ``expires_at``."""

    kind: ClassVar[str] = "token_revoked"

    client_id: str
    jti: str
    expires_at: int


class RevocationIgnored(Struct, frozen=True):
    """RFC 7009 §2.2: a revocation request answered 200 without revoking anything: the token is
    not a valid token of this server (``invalid_token: …``) or belongs to another client
    (``not_permitted``)."""

    kind: ClassVar[str] = "revocation_ignored"

    client_id: str
    jti: str | None
    reason: str
