"""The token endpoint (RFC 6749 §3.2): method, media type, form, grant_type, auth, dispatch."""

from __future__ import annotations

from typing import Any

import pytest
from provider_fakes import (
    DictClientStore,
    EventLog,
    ScriptedJwksFetcher,
    jwks_of,
    peer_of,
    self_signed_client,
    tls_client,
    token_request,
)

from certbound.core.client_auth import PUBLIC_DESCRIPTION
from certbound.core.clients import Client
from certbound.core.endpoints.token import TokenEndpoint
from certbound.core.errors import (
    InvalidClientError,
    InvalidRequestError,
    MethodNotAllowedError,
    UnsupportedGrantTypeError,
)
from certbound.core.events import ClientAuthenticated, ClientAuthFailed, TokenIssued
from certbound.core.grants import GrantContext, GrantRegistry
from certbound.core.grants.client_credentials import ClientCredentialsGrant
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.keys.local import LocalSigner
from testpki import NOW

POLICY = ServerPolicy(issuer="https://as.example.com", mtls_base_url="https://mtls.as.example.com")
SIGNER = LocalSigner.generate("ES256")


class _EchoGrant:
    grant_type = "urn:example:echo"

    async def handle(self, ctx: GrantContext) -> Response:
        return Response(
            200, {"client": ctx.client.client.client_id, "grant": ctx.form.get("grant_type")}
        )


@pytest.fixture
def verifier(pki: Any) -> ChainVerifier:
    return ChainVerifier(TrustStore.from_pem(pki.root.pem))


def endpoint(
    *clients: Client,
    events: EventLog,
    policy: ServerPolicy = POLICY,
    grants: GrantRegistry | None = None,
) -> TokenEndpoint:
    return TokenEndpoint(
        clients=DictClientStore(*clients),
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=policy,
        events=events,
        grants=grants or GrantRegistry([ClientCredentialsGrant(), _EchoGrant()]),
    )


async def call(ep: TokenEndpoint, request: Request, verifier: ChainVerifier) -> Response:
    return await ep.handle(request, verifier=verifier, signer=SIGNER, now=NOW)


async def test_issues_a_token_for_an_authenticated_client(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    response = await call(
        endpoint(tls_client(), events=events), token_request(peer=peer_of(pki.client)), verifier
    )
    assert response.status == 200
    assert response.json is not None
    assert response.json["token_type"] == "Bearer"
    assert [type(e) for e in events.events] == [ClientAuthenticated, TokenIssued]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
async def test_methods_other_than_post_are_405_with_allow(
    pki: Any, verifier: ChainVerifier, method: str
) -> None:
    events = EventLog()
    request = token_request(peer=peer_of(pki.client), method=method)
    with pytest.raises(MethodNotAllowedError) as caught:
        await call(endpoint(tls_client(), events=events), request, verifier)
    assert caught.value.status_code == 405
    assert caught.value.body()["error"] == "invalid_request"
    assert caught.value.headers() == {"Allow": "POST"}
    assert events.events == []


@pytest.mark.parametrize(
    "content_type", [None, "application/json", "multipart/form-data; boundary=x", "text/plain"]
)
async def test_body_that_is_not_form_encoded_is_invalid_request(
    pki: Any, verifier: ChainVerifier, content_type: str | None
) -> None:
    request = token_request(peer=peer_of(pki.client), content_type=content_type)
    with pytest.raises(InvalidRequestError) as caught:
        await call(endpoint(tls_client(), events=EventLog()), request, verifier)
    assert caught.value.status_code == 400
    assert caught.value.description == "the request body must be application/x-www-form-urlencoded"


async def test_form_media_type_with_parameters_and_case_is_accepted(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(
        peer=peer_of(pki.client), content_type="Application/X-WWW-Form-URLEncoded; charset=UTF-8"
    )
    response = await call(endpoint(tls_client(), events=EventLog()), request, verifier)
    assert response.status == 200


async def test_missing_grant_type_is_invalid_request_before_authentication(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    request = token_request("client_id=client-1", peer=peer_of(pki.client))
    with pytest.raises(InvalidRequestError, match="missing parameter 'grant_type'"):
        await call(endpoint(tls_client(), events=events), request, verifier)
    assert events.events == []


async def test_unknown_grant_type_is_unsupported_grant_type(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    request = token_request("grant_type=password&client_id=client-1", peer=peer_of(pki.client))
    with pytest.raises(UnsupportedGrantTypeError) as caught:
        await call(endpoint(tls_client(), events=events), request, verifier)
    assert caught.value.body() == {
        "error": "unsupported_grant_type",
        "error_description": "the grant_type is not supported",
    }
    assert caught.value.detail == "grant_type='password'"
    assert events.events == []


@pytest.mark.parametrize(
    "body",
    [
        "grant_type=client_credentials&grant_type=client_credentials&client_id=client-1",
        "grant_type=client_credentials&client_id=client-1&scope=a&scope=b",
    ],
)
async def test_repeated_parameter_is_invalid_request(
    pki: Any, verifier: ChainVerifier, body: str
) -> None:
    request = token_request(body, peer=peer_of(pki.client))
    with pytest.raises(InvalidRequestError, match="is repeated"):
        await call(endpoint(tls_client(scope=("a", "b")), events=EventLog()), request, verifier)


async def test_malformed_form_is_invalid_request(pki: Any, verifier: ChainVerifier) -> None:
    request = token_request("grant_type=client_credentials&client_id=%zz", peer=peer_of(pki.client))
    with pytest.raises(InvalidRequestError, match="percent-encoding"):
        await call(endpoint(tls_client(), events=EventLog()), request, verifier)


async def test_failed_authentication_stops_before_the_grant(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    request = token_request(peer=peer_of(pki.other_client))
    with pytest.raises(InvalidClientError, match=PUBLIC_DESCRIPTION):
        await call(endpoint(tls_client(), events=events), request, verifier)
    assert [type(e) for e in events.events] == [ClientAuthFailed]


async def test_client_auth_methods_of_the_policy_are_enforced(
    pki: Any, verifier: ChainVerifier
) -> None:
    events = EventLog()
    only_pki = ServerPolicy(
        issuer="https://as.example.com",
        mtls_base_url=None,
        client_auth_methods=("tls_client_auth",),
    )
    client = self_signed_client(jwks=jwks_of(pki.self_signed.cert))
    request = token_request(
        "grant_type=client_credentials&client_id=self-1", peer=peer_of(pki.self_signed)
    )
    with pytest.raises(InvalidClientError):
        await call(endpoint(client, events=events, policy=only_pki), request, verifier)
    assert events.of(ClientAuthFailed)[0].reason == "method_not_allowed"


async def test_dispatches_to_the_handler_registered_for_the_grant_type(
    pki: Any, verifier: ChainVerifier
) -> None:
    request = token_request(
        "grant_type=urn:example:echo&client_id=client-1", peer=peer_of(pki.client)
    )
    response = await call(endpoint(tls_client(), events=EventLog()), request, verifier)
    assert response == Response(200, {"client": "client-1", "grant": "urn:example:echo"})


async def test_grant_not_in_the_registry_is_unsupported(pki: Any, verifier: ChainVerifier) -> None:
    only_echo = GrantRegistry([_EchoGrant()])
    request = token_request(peer=peer_of(pki.client))
    with pytest.raises(UnsupportedGrantTypeError):
        await call(endpoint(tls_client(), events=EventLog(), grants=only_echo), request, verifier)
