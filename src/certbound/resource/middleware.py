"""ASGI middleware for a protected resource: Bearer token → verify → ``cnf`` vs certificate → app.

For each ``http`` and ``websocket`` request on a protected path (every path by default):

1. :class:`~certbound.certsource.ClientCertificateMiddleware` (composed inside, same rules) finds
   the caller's certificate: the TLS handshake, or a header from a trusted proxy only.
2. The token comes from ``Authorization: Bearer <b64token>`` (RFC 6750 §2.1). A token in the
   query (``access_token``, §2.3) is refused, as is more than one ``Authorization`` header:
   400 ``invalid_request``; so is a Bearer header that does not follow the grammar. No Bearer
   credentials at all (no header, or another scheme) is 401 with ``WWW-Authenticate: Bearer``
   and no error code (§3.1: the client may not know that authentication is needed).
3. The verifier checks the token, its binding to the certificate (RFC 8705 §3) and answers
   ``invalid_token`` (401) or ``ResourceServerUnavailableError`` (503, no traceback).
4. The app sees ``scope["state"]["access_token"]`` (``request.state.access_token``), a
   :class:`~certbound.resource.verifier.VerifiedAccessToken`; read it with :func:`access_token`.

Error answers carry a small JSON body, ``Cache-Control: no-store`` and, for 400/401/403, the
RFC 6750 §3 challenge with ``realm`` when one is configured. A WebSocket is closed with 1008.
The private reason (``detail``) goes to the log, never to the client; the token is never logged.
Path prefixes match whole segments (``/api`` protects ``/api`` and ``/api/x``, not ``/apix``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl

import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from certbound.certsource import ClientCertificateMiddleware, TrustedProxies, peer_certificate
from certbound.core.errors import (
    InsufficientScopeError,
    InvalidRequestError,
    InvalidTokenError,
    OAuthError,
    require_error_charset,
)
from certbound.resource.verifier import TokenVerifier, VerifiedAccessToken

__all__ = [
    "ACCESS_TOKEN",
    "CertificateBoundTokenMiddleware",
    "access_token",
    "bearer_challenge",
    "bearer_token",
]

ACCESS_TOKEN: Final = "access_token"  # noqa: S105 (a state key, not a secret)
TOKEN_REQUIRED: Final = "this resource requires a Bearer access token"  # noqa: S105
# RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; the scheme is case-insensitive (RFC 9110).
_CREDENTIALS = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_log = structlog.get_logger("certbound.resource")


def access_token(scope: Mapping[str, Any]) -> VerifiedAccessToken | None:
    """The token the middleware verified for this request's scope, if any."""
    state = scope.get("state")
    value = state.get(ACCESS_TOKEN) if isinstance(state, Mapping) else None
    return value if isinstance(value, VerifiedAccessToken) else None


def bearer_token(scope: Scope) -> str | None:
    """The RFC 6750 §2.1 token of a request, or None when it carries no Bearer credentials.

    Raises :class:`InvalidRequestError` for a token in the query, several ``Authorization``
    headers, or a Bearer header that is not ``Bearer <b64token>``.
    """
    query = scope.get("query_string", b"").decode("latin-1")
    if any(name == ACCESS_TOKEN for name, _ in parse_qsl(query, keep_blank_values=True)):
        raise InvalidRequestError("access tokens are accepted in the Authorization header only")
    values = [v for n, v in scope.get("headers", ()) if n.lower() == b"authorization"]
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequestError("more than one Authorization header")
    match = _CREDENTIALS.fullmatch(values[0].decode("latin-1"))
    if match is None:
        raise InvalidRequestError("the Authorization header is malformed")
    if match[1].lower() != "bearer":
        return None
    if match[2] is None or not _B64TOKEN.fullmatch(match[2]):
        raise InvalidRequestError("the Authorization header is not 'Bearer <token>'")
    return match[2]


def bearer_challenge(realm: str | None, error: OAuthError | None) -> str:
    """The RFC 6750 §3 ``WWW-Authenticate`` value; no error attributes when ``error`` is None."""
    parts = [f'realm="{realm}"'] if realm else []
    if error is not None:
        parts.append(f'error="{error.error}"')
        if error.description:
            parts.append(f'error_description="{error.description}"')
        if isinstance(error, InvalidTokenError | InsufficientScopeError) and error.scope:
            parts.append(f'scope="{error.scope}"')
    return "Bearer " + ", ".join(parts) if parts else "Bearer"


def _protection(protected: Callable[[str], bool] | Iterable[str] | None) -> Callable[[str], bool]:
    if protected is None:
        return lambda _path: True
    if callable(protected):
        return protected
    if isinstance(protected, str):
        raise TypeError("protected takes path prefixes (an iterable of strings), not one string")
    prefixes = tuple(p.rstrip("/") for p in protected)
    if not prefixes or not all(p == "" or p.startswith("/") for p in prefixes):
        raise ValueError("protected path prefixes must be absolute paths ('/api')")
    return lambda path: any(path == p or path.startswith(p + "/") for p in prefixes)


async def _reject(scope: Scope, send: Send, error: OAuthError | None, realm: str | None) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    status = 401 if error is None else error.status_code
    payload: dict[str, str] = {"message": TOKEN_REQUIRED} if error is None else error.body()
    body = json.dumps(payload).encode("utf-8")
    headers = {"content-type": "application/json", "cache-control": "no-store"}
    headers["content-length"] = str(len(body))
    if error is None or status in (400, 401, 403):
        headers["www-authenticate"] = bearer_challenge(realm, error)
    if error is not None:
        headers.update(
            (k.lower(), v) for k, v in error.headers().items() if k != "WWW-Authenticate"
        )
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class CertificateBoundTokenMiddleware:
    """Only requests with a valid token bound to the caller's certificate reach ``app``."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        trusted_proxies: TrustedProxies = TrustedProxies(),  # noqa: B008 (frozen value)
        protected: Callable[[str], bool] | Iterable[str] | None = None,
        realm: str | None = None,
    ) -> None:
        if realm is not None and (not realm or require_error_charset(realm) != realm):
            raise ValueError("realm must be non-empty, printable ASCII, without '\"' or '\\'")
        self.app, self.verifier, self.realm = app, verifier, realm
        self._protected = _protection(protected)
        self._certificates = ClientCertificateMiddleware(
            self._guard, trusted_proxies=trusted_proxies
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._certificates(scope, receive, send)

    async def _guard(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self._protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        peer = peer_certificate(scope)
        try:
            token = bearer_token(scope)
            if token is None:
                await _reject(scope, send, None, self.realm)
                return
            verified = await self.verifier.verify(token, peer)
        except OAuthError as exc:
            _log.info(
                "access_token_rejected",
                error=exc.error,
                status=exc.status_code,
                detail=exc.detail,
                path=scope["path"],
                peer=peer.thumbprint if peer else None,
            )
            await _reject(scope, send, exc, self.realm)
            return
        inner = dict(scope)
        inner["state"] = {**(scope.get("state") or {}), ACCESS_TOKEN: verified}
        await self.app(inner, receive, send)
