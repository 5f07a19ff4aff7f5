"""The OAuth error tree: one class per registered error code.

RFC 6749 §5.2 (token endpoint), RFC 6750 §3.1 (resource server), RFC 7591 §3.2.2 (registration).
Each error carries a public ``description`` (sent to the client, restricted to the RFC 6749
error charset) and a private ``detail`` (logs, audit, events; never sent).
"""

from __future__ import annotations

import re
from typing import ClassVar

__all__ = [
    "AccessDeniedError",
    "InsufficientScopeError",
    "InvalidClientError",
    "InvalidClientMetadataError",
    "InvalidGrantError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidTargetError",
    "InvalidTokenError",
    "MethodNotAllowedError",
    "NotFoundError",
    "OAuthError",
    "RequestTooLargeError",
    "ServerError",
    "TemporarilyUnavailableError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UnsupportedMediaTypeError",
    "require_error_charset",
]

# RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no '"' and no '\').
_ERROR_CHARSET = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def require_error_charset(text: str | None) -> str | None:
    """Return ``text`` with characters outside the RFC 6749 error charset replaced by '?'."""
    if text is None or _ERROR_CHARSET.fullmatch(text):
        return text
    return "".join(c if _ERROR_CHARSET.fullmatch(c) else "?" for c in text)


class OAuthError(Exception):
    """Base of every error that is answered with an OAuth JSON error body."""

    error: ClassVar[str] = "invalid_request"
    status_code: ClassVar[int] = 400

    def __init__(self, description: str | None = None, *, detail: str | None = None) -> None:
        super().__init__(description or self.error)
        self.description = require_error_charset(description)
        self.detail = detail

    def body(self) -> dict[str, str]:
        out = {"error": self.error}
        if self.description:
            out["error_description"] = self.description
        return out

    def headers(self) -> dict[str, str]:
        return {}


class InvalidRequestError(OAuthError):
    error = "invalid_request"


class InvalidClientError(OAuthError):
    """RFC 6749 §5.2: 401; a Basic challenge only when the client used the Authorization header."""

    error = "invalid_client"
    status_code = 401

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        used_basic: bool = False,
    ) -> None:
        super().__init__(description, detail=detail)
        self.used_basic = used_basic

    def headers(self) -> dict[str, str]:
        if self.used_basic:
            return {"WWW-Authenticate": 'Basic realm="certbound"'}
        return {}


class InvalidGrantError(OAuthError):
    error = "invalid_grant"


class UnauthorizedClientError(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantTypeError(OAuthError):
    error = "unsupported_grant_type"


class InvalidScopeError(OAuthError):
    error = "invalid_scope"


class InvalidTargetError(OAuthError):
    error = "invalid_target"


class AccessDeniedError(OAuthError):
    error = "access_denied"
    status_code = 403


class InvalidClientMetadataError(OAuthError):
    error = "invalid_client_metadata"


class _BearerError(OAuthError):
    """RFC 6750 §3: errors of a protected resource, answered with a Bearer challenge."""

    def __init__(
        self,
        description: str | None = None,
        *,
        detail: str | None = None,
        scope: str | None = None,
        realm: str | None = None,
    ) -> None:
        super().__init__(description, detail=detail)
        self.scope = scope
        self.realm = realm

    def headers(self) -> dict[str, str]:
        parts: list[str] = []
        if self.realm:
            parts.append(f'realm="{self.realm}"')
        parts.append(f'error="{self.error}"')
        if self.description:
            parts.append(f'error_description="{self.description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


class InvalidTokenError(_BearerError):
    error = "invalid_token"
    status_code = 401


class InsufficientScopeError(_BearerError):
    error = "insufficient_scope"
    status_code = 403


class TemporarilyUnavailableError(OAuthError):
    error = "temporarily_unavailable"
    status_code = 503


class ServerError(OAuthError):
    """A generic 500: the description never carries internals."""

    error = "server_error"
    status_code = 500


# HTTP-level failures that still answer with an OAuth-shaped JSON body.
class MethodNotAllowedError(InvalidRequestError):
    status_code = 405


class UnsupportedMediaTypeError(InvalidRequestError):
    status_code = 415


class RequestTooLargeError(InvalidRequestError):
    status_code = 413


class NotFoundError(InvalidRequestError):
    status_code = 404
