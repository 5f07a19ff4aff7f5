"""Frozen configuration slices the composition root hands to the core (STYLE.md rule 8).

The core never reads Settings, env or files: ``config/compose.py`` builds these values once per
(re)load. Each handler takes the slice it reads, nothing more.

Endpoint URLs are derived in one place, :data:`ENDPOINT_PATHS`: the issuer listener serves every
endpoint at ``issuer + path``; the mTLS alias listener (RFC 8705 §5) serves the same paths at
``mtls_base_url + path``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

__all__ = [
    "CLIENT_AUTH_METHODS",
    "ENDPOINT_PATHS",
    "ServerPolicy",
    "endpoint_url",
    "mtls_endpoint_url",
    "token_audience",
]

# The token_endpoint_auth_method values certbound implements (RFC 8705 §2.1, §2.2; RFC 7523 §2.2
# / OIDC Core §9 "private_key_jwt"; RFC 7591 §2 "none" for public clients, RFC 8705 §4).
CLIENT_AUTH_METHODS: Final = (
    "tls_client_auth",
    "self_signed_tls_client_auth",
    "private_key_jwt",
    "none",
)

ENDPOINT_PATHS: Final = MappingProxyType(
    {
        "token": "/token",
        "jwks": "/jwks",
        "introspection": "/introspect",
        "revocation": "/revoke",
        "par": "/par",
        "userinfo": "/userinfo",
        "registration": "/register",
        "authorization": "/authorize",
    }
)


def _check_base_url(what: str, url: str) -> None:
    """``https://host[:port][/path]`` (RFC 8414 §2): no query, fragment, userinfo or final '/'."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(f"{what} must be an https:// URL with a host: {url!r}")
    if parts.query or parts.fragment or "@" in parts.netloc or url.endswith("/"):
        raise ValueError(f"{what} must have no query, fragment, userinfo or trailing '/': {url!r}")


@dataclass(frozen=True, slots=True)
class ServerPolicy:
    """What the protocol core needs to know about this authorization server.

    - ``issuer``: RFC 8414 §2 issuer identifier, ``https://host[:port]`` (no trailing slash).
    - ``mtls_base_url``: base URL of the mTLS alias listener (RFC 8705 §5), None when disabled.
    - ``access_token_lifetime``: default seconds; a client's ``access_token_lifetime`` overrides.
    - ``access_token_audience``: the ``aud`` of access tokens (RFC 9068 §2.2); when empty the
      issuer itself is the audience (see :func:`token_audience`).
    - ``require_bound_tokens``: True (the secure default) means every access token is bound to the
      client certificate (RFC 8705 §3): the token endpoint refuses a request without one, and a
      client may not register ``tls_client_certificate_bound_access_tokens: false``.
    - ``client_auth_methods``: accepted ``token_endpoint_auth_method`` values, in preference order.
    - ``scopes_supported``: the scopes clients may register; empty means no server-wide list.
    - ``allow_jwks_uri_private``: accept a ``jwks_uri`` on a loopback/private IP literal or
      ``localhost`` (tests and labs only; SSRF protection otherwise).
    """

    issuer: str
    mtls_base_url: str | None
    access_token_lifetime: int = 600
    access_token_audience: tuple[str, ...] = ()
    require_bound_tokens: bool = True
    client_auth_methods: tuple[str, ...] = ("tls_client_auth", "self_signed_tls_client_auth")
    scopes_supported: tuple[str, ...] = ()
    allow_jwks_uri_private: bool = False

    def __post_init__(self) -> None:
        _check_base_url("issuer", self.issuer)
        if self.mtls_base_url is not None:
            _check_base_url("mtls_base_url", self.mtls_base_url)
        if self.access_token_lifetime <= 0:
            raise ValueError("access_token_lifetime must be a positive number of seconds")
        if not self.client_auth_methods:
            raise ValueError("client_auth_methods must name at least one method")
        unknown = [m for m in self.client_auth_methods if m not in CLIENT_AUTH_METHODS]
        if unknown:
            raise ValueError(f"unknown client_auth_methods: {', '.join(unknown)}")


def endpoint_url(policy: ServerPolicy, name: str) -> str:
    """The URL of endpoint ``name`` (a key of :data:`ENDPOINT_PATHS`) on the issuer listener."""
    return policy.issuer + _path(name)


def mtls_endpoint_url(policy: ServerPolicy, name: str) -> str | None:
    """The URL of endpoint ``name`` on the mTLS alias listener; None when there is none."""
    path = _path(name)
    return None if policy.mtls_base_url is None else policy.mtls_base_url + path


def token_audience(policy: ServerPolicy) -> tuple[str, ...]:
    """The ``aud`` of access tokens: the configured audiences, or the issuer when none is set."""
    return policy.access_token_audience or (policy.issuer,)


def _path(name: str) -> str:
    try:
        return ENDPOINT_PATHS[name]
    except KeyError:
        raise ValueError(f"unknown endpoint {name!r}; known: {', '.join(ENDPOINT_PATHS)}") from None
