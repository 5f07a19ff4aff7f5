"""Token revocation (RFC 7009) through the Provider: only the client's own tokens, 200 for
everything else, the revocation seen by introspection."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Final
from urllib.parse import urlencode

import pytest
from joserfc.jwk import ECKey
from provider_fakes import (
    DictClientStore,
    DictRevokedTokenStore,
    EventLog,
    FixedClock,
    ScriptedJwksFetcher,
    SetReplayCache,
    form_request,
    issue_token,
    peer_of,
    public_jwks,
    sign_jws,
    tls_client,
)

from certbound.core.client_auth import PUBLIC_CLIENT_DESCRIPTION, PUBLIC_DESCRIPTION
from certbound.core.client_auth.private_key_jwt import CLIENT_ASSERTION_TYPE
from certbound.core.clients import Client
from certbound.core.endpoints.revocation import revocation_response
from certbound.core.events import RequestRejected, RevocationIgnored, TokenRevoked
from certbound.core.messages import Request, Response
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.policy import ServerPolicy
from certbound.core.provider import Provider
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from testpki import NOW

ISSUER: Final = "https://as.example.com"
MTLS: Final = "https://mtls.as.example.com"
POLICY: Final = ServerPolicy(
    issuer=ISSUER,
    mtls_base_url=MTLS,
    client_auth_methods=("tls_client_auth", "private_key_jwt", "none"),
)
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
EMPTY_200: Final = Response(200, None, NO_STORE, text="", media_type="text/plain")
JWT_KEY: Final = ECKey.generate_key("P-256")
T: Final = int(NOW.timestamp())


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet([LocalSigner.generate("ES256")])


@pytest.fixture
def revoked() -> DictRevokedTokenStore:
    return DictRevokedTokenStore()


def provider(pki: Any, keys: KeySet, events: EventLog, revoked: DictRevokedTokenStore) -> Provider:
    return Provider(
        clients=DictClientStore(
            tls_client("client-1"),
            tls_client("client-2", tls_client_auth_subject_dn="CN=client-2,O=certbound tests"),
            Client(
                client_id="jwt-1",
                token_endpoint_auth_method="private_key_jwt",
                jwks=public_jwks(JWT_KEY),
            ),
            Client(
                client_id="app-1",
                token_endpoint_auth_method="none",
                grant_types=("authorization_code",),
            ),
        ),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=keys,
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=POLICY,
        clock=FixedClock(NOW),
        events=events,
        revoked=revoked,
        replay=SetReplayCache(),
    )


def revoke(token: str, peer: Any, *, client_id: str = "client-1", extra: str = "") -> Request:
    body = urlencode({"client_id": client_id, "token": token}) + extra
    return form_request("/revoke", body, peer=peer)


async def test_own_token_is_revoked_until_its_exp_and_then_introspects_inactive(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    events = EventLog()
    p = provider(pki, keys, events, revoked)
    issued = issue_token(keys.active, "client-1", now=NOW)
    response = await p.handle("revocation", revoke(issued.token, peer_of(pki.client)))
    assert response == EMPTY_200
    assert response == revocation_response()
    assert revoked.revoked == {issued.jti: T + 600}
    assert events.of(TokenRevoked) == [TokenRevoked("client-1", issued.jti, T + 600)]
    introspection = form_request(
        "/introspect",
        urlencode({"client_id": "client-1", "token": issued.token}),
        peer=peer_of(pki.client),
    )
    assert (await p.handle("introspection", introspection)).json == {"active": False}


async def test_revoking_twice_is_fine(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    p = provider(pki, keys, EventLog(), revoked)
    issued = issue_token(keys.active, "client-1", now=NOW)
    for _ in range(2):
        assert await p.handle("revocation", revoke(issued.token, peer_of(pki.client))) == EMPTY_200
    assert revoked.revoked == {issued.jti: T + 600}


async def test_another_clients_token_is_answered_200_and_not_revoked(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    events = EventLog()
    issued = issue_token(keys.active, "client-2", now=NOW)
    response = await provider(pki, keys, events, revoked).handle(
        "revocation", revoke(issued.token, peer_of(pki.client))
    )
    assert response == EMPTY_200
    assert revoked.revoked == {}
    assert events.of(RevocationIgnored) == [
        RevocationIgnored("client-1", issued.jti, "not_permitted")
    ]
    assert events.of(TokenRevoked) == []


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda keys: "garbage", "invalid_token: malformed access token"),
        (
            lambda keys: issue_token(LocalSigner.generate("ES256"), "client-1", now=NOW).token,
            "invalid_token: the token was signed with an unknown key (kid)",
        ),
        (
            lambda keys: (
                issue_token(keys.active, "client-1", now=NOW - dt.timedelta(seconds=700)).token
            ),
            "invalid_token: the token has expired",
        ),
    ],
    ids=["garbage", "foreign-key", "expired"],
)
async def test_invalid_tokens_are_answered_200_and_nothing_is_revoked(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore, make_token: Any, reason: str
) -> None:
    events = EventLog()
    response = await provider(pki, keys, events, revoked).handle(
        "revocation", revoke(make_token(keys), peer_of(pki.client))
    )
    assert response == EMPTY_200
    assert revoked.revoked == {}
    assert events.of(RevocationIgnored) == [RevocationIgnored("client-1", None, reason)]


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "urn:example:unknown"])
async def test_token_type_hint_is_accepted_and_ignored(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore, hint: str
) -> None:
    issued = issue_token(keys.active, "client-1", now=NOW)
    request = revoke(issued.token, peer_of(pki.client), extra=f"&token_type_hint={hint}")
    assert await provider(pki, keys, EventLog(), revoked).handle("revocation", request) == EMPTY_200
    assert issued.jti in revoked.revoked


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ("client_id=client-1", "missing parameter 'token'"),
        (
            "client_id=client-1&token=a&token_type_hint=x&token_type_hint=y",
            "parameter 'token_type_hint' is repeated",
        ),
    ],
)
async def test_malformed_requests_are_invalid_request(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore, body: str, description: str
) -> None:
    request = form_request("/revoke", body, peer=peer_of(pki.client))
    response = await provider(pki, keys, EventLog(), revoked).handle("revocation", request)
    assert response == Response(
        400, {"error": "invalid_request", "error_description": description}, NO_STORE
    )


async def test_unauthenticated_caller_is_invalid_client_and_nothing_is_revoked(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    events = EventLog()
    issued = issue_token(keys.active, "client-1", now=NOW)
    response = await provider(pki, keys, events, revoked).handle(
        "revocation", revoke(issued.token, peer_of(pki.other_client))
    )
    assert response == Response(
        401, {"error": "invalid_client", "error_description": PUBLIC_DESCRIPTION}, NO_STORE
    )
    assert revoked.revoked == {}
    assert events.of(RequestRejected)[0].endpoint == "revocation"


async def test_public_client_revokes_its_own_token(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    issued = issue_token(keys.active, "app-1", now=NOW, cnf=peer_of(pki.self_signed).thumbprint)
    request = revoke(issued.token, peer_of(pki.self_signed), client_id="app-1")
    assert await provider(pki, keys, EventLog(), revoked).handle("revocation", request) == EMPTY_200
    assert issued.jti in revoked.revoked


async def test_public_client_without_a_certificate_is_invalid_request(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    issued = issue_token(keys.active, "app-1", now=NOW)
    request = revoke(issued.token, None, client_id="app-1")
    response = await provider(pki, keys, EventLog(), revoked).handle("revocation", request)
    assert response.json == {
        "error": "invalid_request",
        "error_description": PUBLIC_CLIENT_DESCRIPTION,
    }
    assert revoked.revoked == {}


async def test_private_key_jwt_client_revokes_with_an_assertion_for_this_endpoint(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    issued = issue_token(keys.active, "jwt-1", now=NOW)
    assertion = sign_jws(
        JWT_KEY,
        {
            "iss": "jwt-1",
            "sub": "jwt-1",
            "aud": ISSUER + "/revoke",
            "exp": T + 60,
            "jti": secrets.token_urlsafe(8),
        },
    )
    body = urlencode(
        {
            "client_id": "jwt-1",
            "token": issued.token,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
    )
    response = await provider(pki, keys, EventLog(), revoked).handle(
        "revocation", form_request("/revoke", body)
    )
    assert response == EMPTY_200
    assert issued.jti in revoked.revoked


async def test_get_is_405_with_allow_post(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    request = Request(method="GET", path="/revoke", base_url=MTLS)
    response = await provider(pki, keys, EventLog(), revoked).handle("revocation", request)
    assert response.status == 405
    assert response.headers == {**NO_STORE, "Allow": "POST"}
    assert response.json == {
        "error": "invalid_request",
        "error_description": "the revocation endpoint accepts POST only",
    }


async def test_non_form_body_is_invalid_request(
    pki: Any, keys: KeySet, revoked: DictRevokedTokenStore
) -> None:
    request = Request(
        method="POST",
        path="/revoke",
        headers={"content-type": "text/plain"},
        body=b"token=x",
        peer=peer_of(pki.client),
    )
    response = await provider(pki, keys, EventLog(), revoked).handle("revocation", request)
    assert response.status == 400
    assert revoked.revoked == {}
