"""The client's errors: one base, and a message that names the cause and the fix.

``OAuthClientError`` carries what the server said (RFC 6749 §5.2 ``error`` /
``error_description``). The TLS errors are also ``httpx.ConnectError`` so that code written
against httpx keeps catching them.
"""

from __future__ import annotations

import httpx

__all__ = [
    "ClientConfigError",
    "ClientError",
    "DiscoveryError",
    "HandshakeRefusedError",
    "OAuthClientError",
    "ServerNotTrustedError",
    "ServerResponseError",
    "TlsHandshakeError",
]


class ClientError(Exception):
    """Base of every error of :mod:`certbound.client`; ``message`` is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientConfigError(ClientError):
    """The local configuration is unusable: unreadable files, wrong passphrase, key ≠ certificate."""


class DiscoveryError(ClientError):
    """The authorization server metadata (RFC 8414 §3) could not be fetched or is not valid."""


class ServerResponseError(ClientError):
    """A server answered with something that is not a valid OAuth response."""


class TlsHandshakeError(ClientError, httpx.ConnectError):
    """The TLS handshake failed for a reason worth naming (see the subclasses)."""


class ServerNotTrustedError(TlsHandshakeError):
    """The server's certificate does not verify against the configured CA (or the system's)."""


class HandshakeRefusedError(TlsHandshakeError):
    """The server refused the client certificate during the handshake (RFC 8705 §2)."""


class OAuthClientError(ClientError):
    """An OAuth error response (RFC 6749 §5.2): the server's ``error`` and ``error_description``."""

    def __init__(
        self,
        error: str,
        description: str | None,
        status: int,
        *,
        message: str | None = None,
    ) -> None:
        said = f"{error}: {description}" if description else error
        super().__init__(f"{message} (server said {said})" if message else f"{said} ({status})")
        self.error = error
        self.description = description
        self.status = status
