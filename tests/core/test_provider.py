"""The Provider: endpoint dispatch, OAuth errors as §5.2 responses, trust-store hot swap."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from provider_fakes import (
    DictClientStore,
    EventLog,
    ScriptedJwksFetcher,
    peer_of,
    tls_client,
    token_request,
)

from certbound.core.client_auth import PUBLIC_DESCRIPTION
from certbound.core.events import ClientAuthFailed, RequestRejected, TokenIssued
from certbound.core.grants import GrantContext, GrantRegistry
from certbound.core.grants.client_credentials import ClientCredentialsGrant
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.core.provider import Provider, default_grants
from certbound.core.tokens.access_token import verify_access_token
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from testpki import NOW

ISSUER = "https://as.example.com"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class FixedClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet([LocalSigner.generate("ES256"), LocalSigner.generate("ES256")])


def make_provider(
    pki: Any,
    keys: KeySet,
    events: EventLog,
    *,
    clock: FixedClock | None = None,
    grants: GrantRegistry | None = None,
) -> Provider:
    return Provider(
        clients=DictClientStore(tls_client(scope=("read",))),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=keys,
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=ServerPolicy(issuer=ISSUER, mtls_base_url="https://mtls.as.example.com"),
        clock=clock or FixedClock(NOW),
        events=events,
        grants=grants,
    )


def get(path: str, method: str = "GET") -> Request:
    return Request(method=method, path=path, base_url=ISSUER)


async def test_token_request_is_answered_with_a_bound_token_signed_by_the_active_key(
    pki: Any, keys: KeySet
) -> None:
    events = EventLog()
    provider = make_provider(pki, keys, events)
    response = await provider.handle("token", token_request(peer=peer_of(pki.client)))
    assert response.status == 200
    assert response.headers == NO_STORE
    assert response.json is not None
    token = response.json["access_token"]
    claims = verify_access_token(
        token, keys.jwks(), issuer=ISSUER, audience=ISSUER, now=int(NOW.timestamp())
    )
    assert claims["iat"] == int(NOW.timestamp())  # the provider's clock
    assert claims["cnf"] == {"x5t#S256": peer_of(pki.client).thumbprint}
    assert token.count(".") == 2
    assert events.of(TokenIssued)[0].jti == claims["jti"]


async def test_oauth_error_becomes_a_no_store_json_response_and_an_event(
    pki: Any, keys: KeySet
) -> None:
    events = EventLog()
    provider = make_provider(pki, keys, events)
    response = await provider.handle("token", token_request(peer=peer_of(pki.other_client)))
    assert response == Response(
        401, {"error": "invalid_client", "error_description": PUBLIC_DESCRIPTION}, NO_STORE
    )
    auth_failed, rejected = events.events
    assert isinstance(auth_failed, ClientAuthFailed)
    assert rejected == RequestRejected("token", "invalid_client", 401, auth_failed.detail)


async def test_basic_authorization_is_answered_401_with_a_basic_challenge(
    pki: Any, keys: KeySet
) -> None:
    provider = make_provider(pki, keys, EventLog())
    request = token_request(peer=peer_of(pki.client), headers={"authorization": "Basic eDp5"})
    response = await provider.handle("token", request)
    assert response.status == 401
    assert response.json == {"error": "invalid_client", "error_description": PUBLIC_DESCRIPTION}
    assert response.headers == {**NO_STORE, "WWW-Authenticate": 'Basic realm="certbound"'}


async def test_token_get_is_405_with_allow_post(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    response = await make_provider(pki, keys, events).handle("token", get("/token"))
    assert response.status == 405
    assert response.headers == {**NO_STORE, "Allow": "POST"}
    assert events.events == [
        RequestRejected("token", "invalid_request", 405, "the token endpoint accepts POST only")
    ]


async def test_scope_not_allowed_is_answered_invalid_scope(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    request = token_request(
        "grant_type=client_credentials&client_id=client-1&scope=admin", peer=peer_of(pki.client)
    )
    response = await make_provider(pki, keys, events).handle("token", request)
    assert response.status == 400
    assert response.json == {
        "error": "invalid_scope",
        "error_description": "scope not allowed for this client: admin",
    }
    assert events.of(RequestRejected)[0].error == "invalid_scope"


async def test_unknown_endpoint_is_404(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    response = await make_provider(pki, keys, events).handle("authorization", get("/authorize"))
    assert response.status == 404
    assert response.json == {"error": "invalid_request", "error_description": "unknown endpoint"}
    assert events.events == [
        RequestRejected("authorization", "invalid_request", 404, "endpoint='authorization'")
    ]


async def test_discovery_lists_the_registered_grants_and_mtls_aliases(
    pki: Any, keys: KeySet
) -> None:
    class Echo:
        grant_type = "urn:example:echo"

        async def handle(self, ctx: GrantContext) -> Response:
            return Response(200, {})

    grants = default_grants()
    grants.register(Echo())
    response = await make_provider(pki, keys, EventLog(), grants=grants).handle(
        "discovery", get("/.well-known/oauth-authorization-server")
    )
    assert response.status == 200
    doc = response.json
    assert doc is not None
    assert doc["issuer"] == ISSUER
    assert doc["token_endpoint"] == ISSUER + "/token"
    assert doc["jwks_uri"] == ISSUER + "/jwks"
    assert doc["grant_types_supported"] == ["client_credentials", "urn:example:echo"]
    assert doc["mtls_endpoint_aliases"] == {"token_endpoint": "https://mtls.as.example.com/token"}
    assert doc["tls_client_certificate_bound_access_tokens"] is True


async def test_jwks_publishes_every_public_key(pki: Any, keys: KeySet) -> None:
    response = await make_provider(pki, keys, EventLog()).handle("jwks", get("/jwks", "HEAD"))
    assert response.status == 200
    assert response.json == keys.jwks()
    assert response.json is not None
    assert all("d" not in k for k in response.json["keys"])


@pytest.mark.parametrize("endpoint", ["discovery", "jwks"])
async def test_metadata_endpoints_refuse_post_with_allow(
    pki: Any, keys: KeySet, endpoint: str
) -> None:
    events = EventLog()
    response = await make_provider(pki, keys, events).handle(endpoint, get("/x", "POST"))
    assert response.status == 405
    assert response.headers == {**NO_STORE, "Allow": "GET, HEAD"}
    assert events.of(RequestRejected)[0].endpoint == endpoint


async def test_replace_verifier_switches_the_trust_store_for_the_next_request(
    pki: Any, keys: KeySet
) -> None:
    events = EventLog()
    provider = make_provider(pki, keys, events)
    request = token_request(peer=peer_of(pki.foreign_client))  # CN=client-1 from the foreign PKI
    assert (await provider.handle("token", request)).status == 401
    assert events.of(ClientAuthFailed)[0].reason == "chain_incomplete"

    foreign = ChainVerifier(TrustStore.from_pem(pki.foreign_root.pem))
    provider.replace_verifier(foreign)
    assert provider.verifier is foreign
    assert (await provider.handle("token", request)).status == 200
    # ... and the old PKI is no longer trusted.
    assert (await provider.handle("token", token_request(peer=peer_of(pki.client)))).status == 401


async def test_the_clock_decides_certificate_validity(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    later = FixedClock(NOW + dt.timedelta(days=60))  # past pki.client's 30 days
    provider = make_provider(pki, keys, events, clock=later)
    response = await provider.handle("token", token_request(peer=peer_of(pki.client)))
    assert response.status == 401
    assert events.of(ClientAuthFailed)[0].reason == "expired"


def test_default_registry_has_client_credentials_and_provider_exposes_it(
    pki: Any, keys: KeySet
) -> None:
    assert default_grants().grant_types() == ("client_credentials",)
    grants = GrantRegistry([ClientCredentialsGrant()])
    provider = make_provider(pki, keys, EventLog(), grants=grants)
    assert provider.grants is grants
    assert provider.policy.issuer == ISSUER
    with pytest.raises(AttributeError):
        provider.other = 1  # type: ignore[attr-defined]
