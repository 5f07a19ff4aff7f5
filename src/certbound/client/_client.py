"""The client's front door: one certificate for the token request and for the API calls.

RFC 8705 §3: a certificate-bound token is only usable over a connection that presents the same
certificate, so :class:`Client` builds one ``ssl.SSLContext`` and uses it for both the
authorization server (discovery, token endpoint via its mTLS alias) and :meth:`Client.http`.
:class:`AsyncClient` is the same for asyncio.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from certbound.client._auth import DEFAULT_TIMEOUT, ClientCredentialsAuth, TokenSource
from certbound.client._metadata import ServerMetadata
from certbound.client._tls import ClientIdentity, load_client_identity
from certbound.client._token import TokenResponse
from certbound.client._transport import AsyncExplainingTransport, ExplainingTransport

__all__ = ["AsyncClient", "Client"]

API_ROLE = "server"


class _Base:
    def __init__(
        self,
        issuer: str,
        cert: Path | str,
        key: Path | str | None = None,
        *,
        client_id: str,
        scope: str | None = None,
        ca: Path | str | None = None,
        passphrase: bytes | None = None,
        passphrase_file: Path | str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.identity: ClientIdentity = load_client_identity(
            Path(cert),
            None if key is None else Path(key),
            passphrase=passphrase,
            passphrase_file=None if passphrase_file is None else Path(passphrase_file),
        )
        self.ssl_context: ssl.SSLContext = self.identity.ssl_context(
            None if ca is None else Path(ca)
        )
        self.source = TokenSource(
            issuer,
            client_id=client_id,
            ssl_context=self.ssl_context,
            identity=self.identity,
            scope=scope,
            timeout=timeout,
        )
        self.auth = ClientCredentialsAuth(self.source)
        self.timeout = timeout

    @property
    def thumbprint(self) -> str:
        """``x5t#S256`` of the client certificate: a bound token's ``cnf`` carries it."""
        return self.identity.thumbprint


class Client(_Base):
    """Sync client: ``token()`` for the token, ``http()`` for an httpx client that uses it.

    Errors are :class:`~certbound.client.ClientError` subclasses (TLS errors are also
    ``httpx.ConnectError``); a refused token request is an ``OAuthClientError``.
    """

    def metadata(self) -> ServerMetadata:
        return self.source.discover()

    def token(self, *, fresh: bool = False) -> TokenResponse:
        """The current token (cached, renewed before expiry); ``fresh`` forces a new one."""
        if fresh:
            self.source.invalidate()
        return self.source.get_token()

    def http(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` presenting the certificate and sending the token (close it)."""
        transport = ExplainingTransport(
            httpx.HTTPTransport(verify=self.ssl_context), role=API_ROLE, identity=self.identity
        )
        kwargs.setdefault("timeout", self.timeout)
        return httpx.Client(transport=transport, auth=self.auth, **kwargs)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_Base):
    """:class:`Client` for asyncio: ``await token()``, ``http()`` is an ``httpx.AsyncClient``."""

    async def metadata(self) -> ServerMetadata:
        return await self.source.adiscover()

    async def token(self, *, fresh: bool = False) -> TokenResponse:
        if fresh:
            self.source.invalidate()
        return await self.source.aget_token()

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        transport = AsyncExplainingTransport(
            httpx.AsyncHTTPTransport(verify=self.ssl_context),
            role=API_ROLE,
            identity=self.identity,
        )
        kwargs.setdefault("timeout", self.timeout)
        return httpx.AsyncClient(transport=transport, auth=self.auth, **kwargs)

    async def aclose(self) -> None:
        await self.source.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
