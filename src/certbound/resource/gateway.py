"""Gateway mode: the resource server's checks in front of any HTTP service (RFC 8705 §3).

:class:`Gateway` is an ASGI app. For each request:

1. :class:`~certbound.resource.middleware.CertificateBoundTokenMiddleware` finds the client
   certificate (the TLS handshake, or a header from a trusted proxy only), verifies the Bearer
   token (RFC 9068, or RFC 7662 introspection) and its binding to that certificate. It answers
   every failure itself: RFC 6750 §3 401/400, or 503 when the AS cannot be reached.
2. The gateway-wide scopes (:attr:`GatewayConfig.required_scopes`): 403 ``insufficient_scope``.
3. Header hygiene. Every incoming ``X-Certbound-*`` field is dropped (a warning
   ``identity_header_stripped`` is logged: only the gateway may set them); the certificate
   headers were already removed by the certificate middleware; hop-by-hop fields are not
   forwarded (RFC 9110 §7.6.1). ``X-Forwarded-For`` / ``-Proto`` / ``-Host`` and ``Forwarded``
   are kept only from a trusted proxy (the connection's peer is appended to
   ``X-Forwarded-For``); from anyone else they are replaced by what this connection shows.
4. The verified identity goes up as ``X-Certbound-Client-Id``, ``X-Certbound-Subject``,
   ``X-Certbound-Scope`` (space-separated) and ``X-Certbound-Cnf-X5t-S256`` (the bound
   certificate's thumbprint); a claim that is absent gives no header. Values are
   percent-encoded (RFC 3986 §2.1) outside printable ASCII and for ``%`` itself, so
   ``urllib.parse.unquote`` always gives the claim back. ``Authorization`` is forwarded as
   received: the token is bound to the client's certificate, useless to anyone else.
5. The request goes to :attr:`GatewayConfig.upstream` (its path appended) and the answer is
   streamed back (see ``_proxy``): 502 when the upstream cannot be reached, 504 on a timeout.

The gateway owns the verifier and the upstream client: they are closed on lifespan shutdown
(or by :meth:`Gateway.aclose`).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from pathlib import Path
from typing import Final
from urllib.parse import quote, urlsplit

import httpx
import structlog
from starlette.types import Receive, Scope, Send

from certbound.certsource import TrustedProxies
from certbound.core.errors import InsufficientScopeError
from certbound.core.scopes import SCOPE_TOKEN
from certbound.resource._proxy import RawHeaders, UpstreamProxy, json_answer, request_headers
from certbound.resource.middleware import (
    CertificateBoundTokenMiddleware,
    access_token,
    bearer_challenge,
)
from certbound.resource.verifier import TokenVerifier, VerifiedAccessToken, require_scopes

__all__ = [
    "CLIENT_ID_HEADER",
    "CNF_HEADER",
    "IDENTITY_PREFIX",
    "SCOPE_HEADER",
    "SUBJECT_HEADER",
    "Gateway",
    "GatewayConfig",
    "forwarding_headers",
    "identity_headers",
    "upstream_client",
]

IDENTITY_PREFIX: Final = "x-certbound-"
CLIENT_ID_HEADER: Final = "X-Certbound-Client-Id"
SUBJECT_HEADER: Final = "X-Certbound-Subject"
SCOPE_HEADER: Final = "X-Certbound-Scope"
CNF_HEADER: Final = "X-Certbound-Cnf-X5t-S256"
_FORWARDED: Final = frozenset(
    {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"forwarded"}
)
# Also removed by the certificate middleware; dropped here again in case it is configured
# with another nginx header name.
_CERT_HEADERS: Final = frozenset(
    {b"client-cert", b"client-cert-chain", b"x-forwarded-client-cert", b"ssl-client-cert"}
)
_HEADER_SAFE: Final = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_log = structlog.get_logger("certbound.gateway")


def _check_upstream(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the upstream must be an http:// or https:// URL with a host: {url!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"the upstream URL must have no query, fragment or userinfo: {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """What the gateway forwards to and what it demands.

    - ``upstream``: base URL of the protected service; the request path is appended to it.
    - ``required_scopes``: scopes every request's token must carry (RFC 6750 §3.1).
    - ``trusted_proxies``: peers whose certificate and ``X-Forwarded-*`` headers are believed.
    - ``realm``: the RFC 6750 §3 ``realm`` of the challenges.
    - ``timeout`` / ``connect_timeout``: seconds for the upstream (504 when exceeded).
    - ``upstream_ca``: CA bundle for an https upstream (default: the system CAs).
    """

    upstream: str
    required_scopes: tuple[str, ...] = ()
    trusted_proxies: TrustedProxies = TrustedProxies()  # noqa: RUF009 (frozen value)
    realm: str | None = None
    timeout: float = 30.0
    connect_timeout: float = 5.0
    upstream_ca: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "upstream", _check_upstream(self.upstream))
        bad = [s for s in self.required_scopes if not SCOPE_TOKEN.fullmatch(s)]
        if bad:
            raise ValueError(f"not an RFC 6749 §3.3 scope-token: {bad[0]!r}")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("the upstream timeouts must be positive")


def upstream_client(config: GatewayConfig) -> httpx.AsyncClient:
    """No redirects followed, no proxy settings from the environment, no cookies kept."""
    verify: ssl.SSLContext | bool = True
    if config.upstream_ca is not None:
        verify = ssl.create_default_context(cafile=config.upstream_ca)
    cookies = httpx.Cookies()
    cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        verify=verify,
        timeout=httpx.Timeout(config.timeout, connect=config.connect_timeout),
        follow_redirects=False,
        trust_env=False,
        cookies=cookies,
    )


def _header_value(value: str) -> bytes:
    return quote(value, safe=_HEADER_SAFE).encode("ascii")


def identity_headers(token: VerifiedAccessToken) -> RawHeaders:
    """The ``X-Certbound-*`` fields describing a verified token (absent claims: no field)."""
    values = {
        CLIENT_ID_HEADER: token.client_id,
        SUBJECT_HEADER: token.subject,
        SCOPE_HEADER: " ".join(sorted(token.scopes)) if token.scopes else None,
        CNF_HEADER: token.cnf_thumbprint,
    }
    return [
        (name.lower().encode("ascii"), _header_value(value))
        for name, value in values.items()
        if value is not None
    ]


def _client_host(scope: Scope) -> str | None:
    client = scope.get("client")
    return client[0] if client and isinstance(client[0], str) else None


def forwarding_headers(scope: Scope, trusted: bool) -> RawHeaders:
    """``X-Forwarded-For`` / ``-Proto`` / ``-Host`` (and ``Forwarded`` from a trusted proxy)."""
    incoming = [(n.lower(), v) for n, v in scope.get("headers", ())]
    peer = (_client_host(scope) or "unknown").encode("latin-1")
    chain = [v for n, v in incoming if n == b"x-forwarded-for"] if trusted else []
    out: RawHeaders = [(b"x-forwarded-for", b", ".join([*chain, peer]))]
    proto = [v for n, v in incoming if n == b"x-forwarded-proto"] if trusted else []
    out.append((b"x-forwarded-proto", proto[-1] if proto else scope["scheme"].encode("ascii")))
    host = [v for n, v in incoming if n == b"x-forwarded-host"] if trusted else []
    host = host or [v for n, v in incoming if n == b"host"]
    if host:
        out.append((b"x-forwarded-host", host[-1]))
    if trusted:
        out.extend((n, v) for n, v in incoming if n == b"forwarded")
    return out


class Gateway:
    """The ASGI app of ``certbound gateway`` (see the module docstring)."""

    def __init__(
        self,
        config: GatewayConfig,
        verifier: TokenVerifier,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.config, self._verifier = config, verifier
        self._client = client if client is not None else upstream_client(config)
        self._own_client = client is None
        self._proxy = UpstreamProxy(config.upstream, self._client)
        self._guard = CertificateBoundTokenMiddleware(
            self._forward, verifier, trusted_proxies=config.trusted_proxies, realm=config.realm
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self._guard(scope, receive, send)

    async def aclose(self) -> None:
        """Close the verifier and (when the gateway built it) the upstream client."""
        await self._verifier.aclose()
        if self._own_client:
            await self._client.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1003})  # not proxied
            return
        token = access_token(scope)
        if token is None:  # pragma: no cover - the middleware always sets it
            raise RuntimeError("the gateway's token middleware did not run")
        try:
            require_scopes(token, self.config.required_scopes)
        except InsufficientScopeError as exc:
            challenge = bearer_challenge(self.config.realm, exc)
            await json_answer(send, 403, exc.body(), [("www-authenticate", challenge)])
            return
        await self._proxy.forward(scope, receive, send, self._upstream_headers(scope, token))

    def _upstream_headers(self, scope: Scope, token: VerifiedAccessToken) -> RawHeaders:
        prefix = IDENTITY_PREFIX.encode("ascii")
        forged = sorted(
            {
                n.lower().decode("latin-1")
                for n, _ in scope.get("headers", ())
                if n.lower().startswith(prefix)
            }
        )
        if forged:
            _log.warning("identity_header_stripped", headers=forged, peer=_client_host(scope))
        trusted = self.config.trusted_proxies.contains(_client_host(scope))
        kept = request_headers(scope, drop=_FORWARDED | _CERT_HEADERS, drop_prefixes=(prefix,))
        return kept + forwarding_headers(scope, trusted) + identity_headers(token)
