"""certbound.client's curated public surface (the code lives in private modules)."""

from __future__ import annotations

import certbound.client


def test_public_names_are_exactly_the_curated_list() -> None:
    assert certbound.client.__all__ == [
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
    for name in certbound.client.__all__:
        assert getattr(certbound.client, name) is not None


def test_every_error_is_a_client_error_and_tls_errors_are_httpx_errors() -> None:
    import httpx

    from certbound.client import (
        ClientConfigError,
        ClientError,
        DiscoveryError,
        HandshakeRefusedError,
        OAuthClientError,
        ServerNotTrustedError,
        ServerResponseError,
    )

    for error in (ClientConfigError, DiscoveryError, OAuthClientError, ServerResponseError):
        assert issubclass(error, ClientError) and not issubclass(error, httpx.HTTPError)
    for error in (ServerNotTrustedError, HandshakeRefusedError):
        assert issubclass(error, ClientError) and issubclass(error, httpx.ConnectError)
    refused = HandshakeRefusedError("the server refused it")
    assert refused.message == str(refused) == "the server refused it"
