"""Public clients (``token_endpoint_auth_method: none``, RFC 8705 §4): identified by client_id,
their tokens bound to the certificate they present."""

from __future__ import annotations

from typing import Any, Final

import pytest
from provider_fakes import (
    DictClientStore,
    EventLog,
    ScriptedJwksFetcher,
    form_request,
    peer_of,
    token_request,
)

from certbound.core.client_auth import (
    PUBLIC_CLIENT_DESCRIPTION,
    PUBLIC_DESCRIPTION,
    AuthenticatedClient,
    AuthFailureReason,
    authenticate_client,
)
from certbound.core.clients import Client
from certbound.core.errors import (
    InvalidClientError,
    InvalidClientMetadataError,
    InvalidRequestError,
)
from certbound.core.events import ClientAuthenticated, ClientAuthFailed, RequestRejected
from certbound.core.form import parse_form
from certbound.core.messages import Request
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.core.provider import Provider
from certbound.core.registration_rules import validate_client_metadata
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from testpki import NOW

ISSUER: Final = "https://as.example.com"
PUBLIC_POLICY: Final = ServerPolicy(
    issuer=ISSUER,
    mtls_base_url="https://mtls.as.example.com",
    client_auth_methods=("tls_client_auth", "none"),
)
METHODS: Final = PUBLIC_POLICY.client_auth_methods
BODY: Final = "grant_type=authorization_code&client_id=app-1"


@pytest.fixture
def verifier(pki: Any) -> ChainVerifier:
    return ChainVerifier(TrustStore.from_pem(pki.root.pem))


def public_client(**fields: Any) -> Client:
    registered: dict[str, Any] = {
        "grant_types": ("authorization_code",),
        "response_types": ("code",),
        "redirect_uris": ("https://app.example.com/cb",),
        **fields,
    }
    return Client(client_id="app-1", token_endpoint_auth_method="none", **registered)


async def authenticate(
    request: Request,
    client: Client,
    verifier: ChainVerifier,
    events: EventLog,
    allowed: tuple[str, ...] = METHODS,
) -> AuthenticatedClient:
    return await authenticate_client(
        parse_form(request.body),
        request,
        clients=DictClientStore(client),
        verifier=verifier,
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        events=events,
        now=NOW,
        allowed_methods=allowed,
    )


async def test_public_client_with_a_certificate_is_identified_by_client_id(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    peer = peer_of(pki.self_signed)  # any certificate: it is not checked, only bound to
    result = await authenticate(token_request(BODY, peer=peer), public_client(), verifier, events)
    assert (result.client.client_id, result.method, result.peer) == ("app-1", "none", peer)
    assert events.events == [ClientAuthenticated("app-1", "none", peer.thumbprint)]


async def test_public_client_without_a_certificate_is_invalid_request(
    verifier: ChainVerifier,
) -> None:
    events = EventLog()
    with pytest.raises(InvalidRequestError) as caught:
        await authenticate(token_request(BODY), public_client(), verifier, events)
    assert caught.value.body() == {
        "error": "invalid_request",
        "error_description": "a public client must present a certificate",
    }
    assert caught.value.description == PUBLIC_CLIENT_DESCRIPTION
    (event,) = events.events
    assert event == ClientAuthFailed(
        "app-1",
        "none",
        AuthFailureReason.PUBLIC_CLIENT_NO_CERTIFICATE,
        "public client without a certificate; its tokens must be certificate-bound",
        None,
    )


async def test_public_client_that_wants_no_bound_tokens_needs_no_certificate(
    verifier: ChainVerifier,
) -> None:
    client = public_client(tls_client_certificate_bound_access_tokens=False)
    result = await authenticate(token_request(BODY), client, verifier, EventLog())
    assert (result.method, result.peer) == ("none", None)


async def test_public_client_is_refused_where_none_is_not_accepted(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    request = token_request(BODY, peer=peer_of(pki.client))
    with pytest.raises(InvalidClientError, match=PUBLIC_DESCRIPTION):
        await authenticate(request, public_client(), verifier, events, allowed=("tls_client_auth",))
    assert events.of(ClientAuthFailed)[0].reason == AuthFailureReason.METHOD_NOT_ALLOWED


@pytest.mark.parametrize(
    ("extra", "headers", "method"),
    [
        ("&client_assertion=a.b.c", {}, "private_key_jwt"),
        ("&client_secret=s3cret", {}, "client_secret_post"),
        ("", {"authorization": "Basic YXBwLTE6eA=="}, "client_secret_basic"),
    ],
)
async def test_public_client_presenting_credentials_is_refused(
    pki: Any, verifier: ChainVerifier, extra: str, headers: dict[str, str], method: str
) -> None:
    events = EventLog()
    request = token_request(BODY + extra, peer=peer_of(pki.client), headers=headers)
    with pytest.raises(InvalidClientError):
        await authenticate(request, public_client(), verifier, events)
    (event,) = events.of(ClientAuthFailed)
    assert (event.reason, event.method) == (AuthFailureReason.OTHER_METHOD_PRESENTED, method)


def test_registration_of_a_public_client_for_client_credentials_is_refused() -> None:
    with pytest.raises(InvalidClientMetadataError, match="client_credentials needs client auth"):
        validate_client_metadata(
            {"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]},
            client_id="app-1",
            now=0,
            policy=PUBLIC_POLICY,
            generate_id=lambda: "unused",
        )


def _provider(client: Client, events: EventLog, pki: Any) -> Provider:
    return Provider(
        clients=DictClientStore(client),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=KeySet([LocalSigner.generate("ES256")]),
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=PUBLIC_POLICY,
        clock=lambda: NOW.timestamp(),
        events=events,
    )


async def test_token_endpoint_answers_a_certificateless_public_client_invalid_request(
    pki: Any,
) -> None:
    events = EventLog()
    response = await _provider(public_client(), events, pki).handle(
        "token", token_request("grant_type=client_credentials&client_id=app-1")
    )
    assert response.status == 400
    assert response.json == {
        "error": "invalid_request",
        "error_description": PUBLIC_CLIENT_DESCRIPTION,
    }
    assert events.of(RequestRejected)[0].detail == (
        "public client without a certificate; its tokens must be certificate-bound"
    )


async def test_public_client_never_gets_client_credentials_at_the_token_endpoint(pki: Any) -> None:
    # Registration refuses this combination; a stored client carrying it is still refused.
    events = EventLog()
    response = await _provider(public_client(), events, pki).handle(
        "token",
        form_request(
            "/token", "grant_type=client_credentials&client_id=app-1", peer=peer_of(pki.client)
        ),
    )
    assert response.status == 400
    assert response.json is not None and response.json["error"] == "unauthorized_client"
