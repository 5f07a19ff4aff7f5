"""Authorization server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3) with RFC 8705.

RFC 8705 adds ``tls_client_certificate_bound_access_tokens`` (§3.3), the two client
authentication methods (§2.1, §2.2) and ``mtls_endpoint_aliases`` (§5): the endpoints that take
client authentication or a bound token, on the listener that asks for a client certificate.
Only endpoints this server actually serves are listed (the ``endpoints`` argument). The token,
introspection (RFC 7662) and revocation (RFC 7009) endpoints each list their authentication
methods, with the assertion algorithms when ``private_key_jwt`` is among them (RFC 8414 §2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from certbound.core.client_auth import NONE
from certbound.core.client_auth.private_key_jwt import ASSERTION_ALGORITHMS, PRIVATE_KEY_JWT
from certbound.core.messages import Response
from certbound.core.policy import ServerPolicy, endpoint_url, mtls_endpoint_url

__all__ = [
    "ENDPOINT_METADATA",
    "METADATA_CACHE_CONTROL",
    "MTLS_ALIASED",
    "OAUTH_METADATA_PATH",
    "OIDC_CONFIGURATION_PATH",
    "discovery_document",
    "endpoint_auth_methods",
    "metadata_urls",
    "server_metadata",
]

OAUTH_METADATA_PATH: Final = "/.well-known/oauth-authorization-server"  # RFC 8414 §3
OIDC_CONFIGURATION_PATH: Final = "/.well-known/openid-configuration"  # OIDC Discovery 1.0 §4


def metadata_urls(issuer: str) -> tuple[str, str]:
    """Where ``issuer``'s metadata is read, in the order to try: RFC 8414 §3.1 (the well-known
    path inserted between the host and the issuer's path), then OpenID Connect Discovery 1.0 §4
    (appended to the issuer). The server, its resource servers and its clients use the same."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    origin = f"{parts.scheme}://{parts.netloc}"
    return f"{origin}{OAUTH_METADATA_PATH}{path}", f"{origin}{path}{OIDC_CONFIGURATION_PATH}"


# Endpoint name (core.policy.ENDPOINT_PATHS) → RFC 8414 / OIDC metadata member.
ENDPOINT_METADATA: Final = {
    "authorization": "authorization_endpoint",
    "token": "token_endpoint",
    "jwks": "jwks_uri",
    "registration": "registration_endpoint",
    "introspection": "introspection_endpoint",
    "revocation": "revocation_endpoint",
    "par": "pushed_authorization_request_endpoint",
    "userinfo": "userinfo_endpoint",
}
# RFC 8705 §5: endpoints a client reaches with its certificate. Not the authorization endpoint
# (a browser) nor jwks_uri / registration (no client authentication).
MTLS_ALIASED: Final = ("token", "revocation", "introspection", "par", "userinfo")
# Endpoints whose own "<name>_endpoint_auth_methods_supported" member RFC 8414 §2 defines.
_AUTH_METHOD_MEMBERS: Final = ("token", "introspection", "revocation")
# RFC 7662 §2.1: introspection needs an authenticated caller, so no public clients there.
_NO_PUBLIC_CLIENTS: Final = frozenset({"introspection"})
METADATA_CACHE_CONTROL: Final = "public, max-age=300"


def endpoint_auth_methods(policy: ServerPolicy, endpoint: str) -> tuple[str, ...]:
    """The client authentication methods accepted at ``endpoint`` (token, introspection or
    revocation): the policy's, without ``none`` where a public client may not call."""
    methods = policy.client_auth_methods
    if endpoint in _NO_PUBLIC_CLIENTS:
        return tuple(m for m in methods if m != NONE)
    return methods


def _auth_members(policy: ServerPolicy, endpoints: Sequence[str]) -> dict[str, Any]:
    """RFC 8414 §2 ``<name>_endpoint_auth_methods_supported``, and the
    ``…_auth_signing_alg_values_supported`` it requires when ``private_key_jwt`` is listed."""
    doc: dict[str, Any] = {}
    for name in _AUTH_METHOD_MEMBERS:
        if name not in endpoints and name != "token":
            continue
        methods = endpoint_auth_methods(policy, name)
        doc[f"{name}_endpoint_auth_methods_supported"] = list(methods)
        if PRIVATE_KEY_JWT in methods:
            doc[f"{name}_endpoint_auth_signing_alg_values_supported"] = list(ASSERTION_ALGORITHMS)
    return doc


def server_metadata(
    policy: ServerPolicy,
    *,
    endpoints: Sequence[str] = ("token", "jwks"),
    grant_types: Sequence[str] = ("client_credentials",),
    response_types: Sequence[str] = (),
    code_challenge_methods: Sequence[str] = (),
    introspection_signing_algs: Sequence[str] = (),
) -> dict[str, Any]:
    """The metadata document. ``grant_types`` comes from the grant registry; ``response_types``
    is empty until the authorization endpoint exists (RFC 8414 §2 still requires the member).
    ``introspection_signing_algs``: RFC 9701 §7 algorithms of JWT introspection responses."""
    doc: dict[str, Any] = {"issuer": policy.issuer}
    for name in endpoints:
        doc[ENDPOINT_METADATA[name]] = endpoint_url(policy, name)
    doc.update(_auth_members(policy, endpoints))
    if introspection_signing_algs and "introspection" in endpoints:
        doc["introspection_signing_alg_values_supported"] = list(introspection_signing_algs)
    doc["grant_types_supported"] = list(grant_types)
    doc["response_types_supported"] = list(response_types)
    if policy.scopes_supported:
        doc["scopes_supported"] = list(policy.scopes_supported)
    if code_challenge_methods:
        doc["code_challenge_methods_supported"] = list(code_challenge_methods)
    doc["tls_client_certificate_bound_access_tokens"] = True
    aliases = _mtls_aliases(policy, endpoints)
    if aliases:
        doc["mtls_endpoint_aliases"] = aliases
    return doc


def _mtls_aliases(policy: ServerPolicy, endpoints: Sequence[str]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for name in MTLS_ALIASED:
        url = mtls_endpoint_url(policy, name) if name in endpoints else None
        if url is not None:
            aliases[ENDPOINT_METADATA[name]] = url
    return aliases


def discovery_document(metadata: Mapping[str, Any]) -> Response:
    """The ``/.well-known/oauth-authorization-server`` response (RFC 8414 §3.2): 200 JSON,
    publicly cacheable for five minutes (the same window as the JWKS)."""
    return Response(200, json=dict(metadata), headers={"Cache-Control": METADATA_CACHE_CONTROL})
