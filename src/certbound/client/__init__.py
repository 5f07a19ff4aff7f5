"""certbound.client: an OAuth client that authenticates with its certificate (RFC 8705), on httpx.

    from certbound.client import Client

    with Client("https://as.example.com", "client.pem", "client.key", client_id="svc") as c:
        print(c.token().cnf_thumbprint == c.thumbprint)
        with c.http() as api:
            api.get("https://api.example.com/things")  # same certificate, bound token

The code lives in private modules; this is the public surface.
"""

from certbound.client._auth import ClientCredentialsAuth, TokenSource
from certbound.client._client import AsyncClient, Client
from certbound.client._errors import (
    ClientConfigError,
    ClientError,
    DiscoveryError,
    HandshakeRefusedError,
    OAuthClientError,
    ServerNotTrustedError,
    ServerResponseError,
    TlsHandshakeError,
)
from certbound.client._metadata import ServerMetadata
from certbound.client._tls import (
    KEY_PASSPHRASE_ENV,
    ClientIdentity,
    client_ssl_context,
    load_client_identity,
)
from certbound.client._token import TokenResponse

__all__ = [
    "KEY_PASSPHRASE_ENV",
    "AsyncClient",
    "Client",
    "ClientConfigError",
    "ClientCredentialsAuth",
    "ClientError",
    "ClientIdentity",
    "DiscoveryError",
    "HandshakeRefusedError",
    "OAuthClientError",
    "ServerMetadata",
    "ServerNotTrustedError",
    "ServerResponseError",
    "TlsHandshakeError",
    "TokenResponse",
    "TokenSource",
    "client_ssl_context",
    "load_client_identity",
]
