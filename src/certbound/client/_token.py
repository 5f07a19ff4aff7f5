"""The client credentials token request (RFC 6749 §4.4) with mTLS client authentication.

RFC 8705 §2 authenticates the client by its certificate, so the request carries ``client_id``
(required there) and no secret. A success is RFC 6749 §5.1; an error is §5.2, raised as
:class:`OAuthClientError` with the server's ``error`` / ``error_description``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import httpx
from joserfc import jws
from joserfc.errors import JoseError

from certbound.client._errors import OAuthClientError, ServerResponseError
from certbound.client._transport import Flow
from certbound.core.mtls.certificate import X5T_S256

__all__ = ["TokenResponse", "parse_token_response", "token_flow", "token_request"]

CLIENT_CREDENTIALS = "client_credentials"


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """RFC 6749 §5.1. ``claims`` / ``header`` are read WITHOUT verifying the signature: they are
    for display only; the resource server is the one that verifies the token."""

    access_token: str = field(repr=False)
    token_type: str
    expires_in: int | None
    scope: str | None
    raw: Mapping[str, Any] = field(compare=False, repr=False)

    @property
    def header(self) -> dict[str, Any] | None:
        """The JWS protected header, or None for an opaque token."""
        signed = self._unverified()
        return None if signed is None else dict(signed.headers())

    @property
    def claims(self) -> dict[str, Any] | None:
        """The JWT claims (RFC 9068), unverified, or None for an opaque token."""
        signed = self._unverified()
        if signed is None:
            return None
        try:
            claims = json.loads(signed.payload)
        except (ValueError, UnicodeDecodeError):
            return None
        return claims if isinstance(claims, dict) else None

    @property
    def cnf_thumbprint(self) -> str | None:
        """``cnf["x5t#S256"]`` (RFC 8705 §3.1), the certificate the token is bound to, if any."""
        cnf = (self.claims or {}).get("cnf")
        value = cnf.get(X5T_S256) if isinstance(cnf, dict) else None
        return value if isinstance(value, str) else None

    def _unverified(self) -> jws.CompactSignature | None:
        try:
            return jws.extract_compact(self.access_token.encode("ascii"))
        except (JoseError, ValueError, UnicodeEncodeError):
            return None


def token_request(endpoint: str, *, client_id: str, scope: str | None) -> httpx.Request:
    """The form POST (RFC 6749 §4.4.2; ``client_id`` per RFC 8705 §2)."""
    form = {"grant_type": CLIENT_CREDENTIALS, "client_id": client_id}
    if scope:
        form["scope"] = scope
    return httpx.Request("POST", endpoint, data=form, headers={"Accept": "application/json"})


def token_flow(endpoint: str, *, client_id: str, scope: str | None) -> Flow[TokenResponse]:
    response = yield token_request(endpoint, client_id=client_id, scope=scope)
    return parse_token_response(response, client_id=client_id)


def parse_token_response(response: httpx.Response, *, client_id: str) -> TokenResponse:
    """§5.1 on 200; otherwise the §5.2 error as :class:`OAuthClientError`."""
    body = _json_object(response)
    if response.status_code != 200:
        raise _oauth_error(response, body, client_id)
    if body is None:
        raise ServerResponseError(f"the token endpoint {response.url} answered 200 without JSON")
    token, token_type = body.get("access_token"), body.get("token_type")
    if not isinstance(token, str) or not token or not isinstance(token_type, str):
        raise ServerResponseError("the token response lacks access_token or token_type")
    if token_type.lower() != "bearer":
        raise ServerResponseError(f"the server issued a {token_type!r} token; only Bearer is used")
    expires_in, scope = body.get("expires_in"), body.get("scope")
    if expires_in is not None and (
        not isinstance(expires_in, int) or isinstance(expires_in, bool) or expires_in < 0
    ):
        raise ServerResponseError(f"the token response has a bad expires_in: {expires_in!r}")
    return TokenResponse(
        token,
        token_type,
        expires_in,
        scope if isinstance(scope, str) else None,
        MappingProxyType(body),
    )


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _oauth_error(
    response: httpx.Response, body: dict[str, Any] | None, client_id: str
) -> OAuthClientError | ServerResponseError:
    error = (body or {}).get("error")
    if not isinstance(error, str):
        return ServerResponseError(
            f"the token endpoint {response.url} answered HTTP {response.status_code} "
            "without an OAuth error"
        )
    described = (body or {}).get("error_description")
    description = described if isinstance(described, str) else None
    message = (
        f"the server did not accept this certificate for client_id {client_id!r}"
        if error == "invalid_client"
        else None
    )
    return OAuthClientError(error, description, response.status_code, message=message)
