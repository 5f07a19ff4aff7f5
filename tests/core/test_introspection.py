"""Token introspection (RFC 7662) through the Provider: authentication, who may see what,
revocation, the RFC 8705 §3.2 cnf, RFC 9701 JWT responses, and the metadata."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, Final
from urllib.parse import urlencode

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet as JoseKeySet
from provider_fakes import (
    DictClientStore,
    DictRevokedTokenStore,
    EventLog,
    FixedClock,
    ScriptedJwksFetcher,
    SetReplayCache,
    form_request,
    issue_token,
    jwks_of,
    peer_of,
    public_jwks,
    self_signed_client,
    sign_jws,
    tls_client,
)

from certbound.core.client_auth import PUBLIC_DESCRIPTION, AuthFailureReason
from certbound.core.client_auth.private_key_jwt import CLIENT_ASSERTION_TYPE
from certbound.core.clients import Client
from certbound.core.endpoints.introspection import (
    INTROSPECT_ANY,
    JWT_RESPONSE_MEDIA_TYPE,
    wants_jwt_response,
)
from certbound.core.events import ClientAuthFailed, RequestRejected, TokenIntrospected
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
    client_auth_methods=(
        "tls_client_auth",
        "self_signed_tls_client_auth",
        "private_key_jwt",
        "none",
    ),
)
NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}
JWT_KEY: Final = ECKey.generate_key("P-256")
T: Final = int(NOW.timestamp())


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet([LocalSigner.generate("ES256"), LocalSigner.generate("ES256")])


def clients(pki: Any) -> DictClientStore:
    return DictClientStore(
        tls_client("client-1"),
        tls_client("client-2", tls_client_auth_subject_dn="CN=client-2,O=certbound tests"),
        self_signed_client(
            "rs-1", jwks=jwks_of(pki.self_signed.cert), extra={INTROSPECT_ANY: True}
        ),
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
    )


def provider(
    pki: Any,
    keys: KeySet,
    events: EventLog,
    *,
    revoked: DictRevokedTokenStore | None = None,
    with_revoked: bool = True,
    store: DictClientStore | None = None,
) -> Provider:
    return Provider(
        clients=store or clients(pki),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=keys,
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=POLICY,
        clock=FixedClock(NOW),
        events=events,
        revoked=(revoked or DictRevokedTokenStore()) if with_revoked else None,
        replay=SetReplayCache(),
    )


def introspect(
    token: str, peer: Any, *, extra: str = "", client_id: str = "client-1", **kwargs: Any
) -> Request:
    return form_request(
        "/introspect",
        urlencode({"client_id": client_id, "token": token}) + extra,
        peer=peer,
        **kwargs,
    )


def own_token(keys: KeySet, pki: Any, client_id: str = "client-1", **kwargs: Any) -> Any:
    return issue_token(
        keys.active, client_id, now=NOW, cnf=peer_of(pki.client).thumbprint, **kwargs
    )


async def test_own_token_is_active_and_described_with_its_cnf(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    issued = own_token(keys, pki)
    response = await provider(pki, keys, events).handle(
        "introspection", introspect(issued.token, peer_of(pki.client))
    )
    assert response.status == 200
    assert response.headers == NO_STORE
    assert response.json == {
        "active": True,
        "token_type": "Bearer",
        "client_id": "client-1",
        "scope": "read",
        "exp": T + 600,
        "iat": T,
        "sub": "client-1",
        "aud": ISSUER,
        "iss": ISSUER,
        "jti": issued.jti,
        "cnf": {"x5t#S256": peer_of(pki.client).thumbprint},
    }
    assert events.of(TokenIntrospected) == [
        TokenIntrospected("client-1", issued.jti, True, "active")
    ]


async def test_token_from_the_token_endpoint_introspects_active(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    p = provider(pki, keys, events)
    token_response = await p.handle(
        "token",
        form_request(
            "/token", "grant_type=client_credentials&client_id=client-1", peer=peer_of(pki.client)
        ),
    )
    assert token_response.json is not None
    token = token_response.json["access_token"]
    response = await p.handle("introspection", introspect(token, peer_of(pki.client)))
    assert response.json is not None and response.json["active"] is True
    assert response.json["cnf"] == {"x5t#S256": peer_of(pki.client).thumbprint}


async def test_another_clients_token_is_inactive(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    issued = own_token(keys, pki, "client-2")
    response = await provider(pki, keys, events).handle(
        "introspection", introspect(issued.token, peer_of(pki.client))
    )
    assert response == Response(200, {"active": False}, NO_STORE)
    assert events.of(TokenIntrospected) == [
        TokenIntrospected("client-1", issued.jti, False, "not_permitted")
    ]


async def test_a_resource_server_registered_to_introspect_any_token_sees_every_token(
    pki: Any, keys: KeySet
) -> None:
    issued = own_token(keys, pki, "client-2")
    request = introspect(issued.token, peer_of(pki.self_signed), client_id="rs-1")
    response = await provider(pki, keys, EventLog()).handle("introspection", request)
    assert response.json is not None
    assert (response.json["active"], response.json["client_id"]) == (True, "client-2")


async def test_introspect_any_must_be_literally_true(pki: Any, keys: KeySet) -> None:
    store = DictClientStore(
        tls_client("client-1", extra={INTROSPECT_ANY: "true"}),
    )
    issued = own_token(keys, pki, "client-2")
    response = await provider(pki, keys, EventLog(), store=store).handle(
        "introspection", introspect(issued.token, peer_of(pki.client))
    )
    assert response.json == {"active": False}


async def test_revoked_token_is_inactive(pki: Any, keys: KeySet) -> None:
    events, revoked = EventLog(), DictRevokedTokenStore()
    issued = own_token(keys, pki)
    await revoked.revoke(issued.jti, T + 600)
    response = await provider(pki, keys, events, revoked=revoked).handle(
        "introspection", introspect(issued.token, peer_of(pki.client))
    )
    assert response.json == {"active": False}
    assert events.of(TokenIntrospected)[0].reason == "revoked"


def _foreign_token() -> str:
    return issue_token(LocalSigner.generate("ES256"), "client-1", now=NOW).token


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda keys: "garbage", "invalid_token: malformed access token"),
        (
            lambda keys: _foreign_token(),
            "invalid_token: the token was signed with an unknown key (kid)",
        ),
        (
            lambda keys: (
                issue_token(keys.active, "client-1", now=NOW - dt.timedelta(seconds=601)).token
            ),
            "invalid_token: the token has expired",
        ),
        (
            lambda keys: (
                issue_token(keys.active, "client-1", now=NOW, issuer="https://other.example").token
            ),
            "invalid_token: the token was issued by another issuer",
        ),
        (
            lambda keys: (
                issue_token(keys.active, "client-1", now=NOW, audience="https://rs.example").token
            ),
            "invalid_token: the token is not intended for this audience",
        ),
        (
            lambda keys: keys.active.encode({"iss": ISSUER, "jti": "x"}, {"typ": "JWT"}),
            "invalid_token: the token is not an access token (typ is not at+jwt)",
        ),
    ],
    ids=[
        "garbage",
        "foreign-key",
        "expired",
        "other-issuer",
        "other-audience",
        "not-an-access-token",
    ],
)
async def test_invalid_tokens_are_inactive_with_status_200(
    pki: Any, keys: KeySet, make_token: Any, reason: str
) -> None:
    events = EventLog()
    response = await provider(pki, keys, events).handle(
        "introspection", introspect(make_token(keys), peer_of(pki.client))
    )
    assert response == Response(200, {"active": False}, NO_STORE)
    assert events.of(TokenIntrospected) == [TokenIntrospected("client-1", None, False, reason)]


async def test_token_is_inactive_from_its_exp_on_without_leeway(pki: Any, keys: KeySet) -> None:
    # RFC 7519 §4.1.4: exp is the time "on or after which the JWT MUST NOT be accepted".
    p = provider(pki, keys, EventLog())
    last_second = issue_token(keys.active, "client-1", now=NOW - dt.timedelta(seconds=599))
    response = await p.handle("introspection", introspect(last_second.token, peer_of(pki.client)))
    assert response.json is not None and response.json["active"] is True
    at_exp = issue_token(keys.active, "client-1", now=NOW - dt.timedelta(seconds=600))
    response = await p.handle("introspection", introspect(at_exp.token, peer_of(pki.client)))
    assert response.json == {"active": False}


@pytest.mark.parametrize("hint", ["access_token", "refresh_token", "urn:example:unknown"])
async def test_token_type_hint_is_accepted_and_ignored(pki: Any, keys: KeySet, hint: str) -> None:
    issued = own_token(keys, pki)
    request = introspect(issued.token, peer_of(pki.client), extra=f"&token_type_hint={hint}")
    response = await provider(pki, keys, EventLog()).handle("introspection", request)
    assert response.json is not None and response.json["active"] is True


@pytest.mark.parametrize(
    ("body", "description"),
    [
        ("client_id=client-1", "missing parameter 'token'"),
        ("client_id=client-1&token=a&token=b", "parameter 'token' is repeated"),
        (
            "client_id=client-1&token=a&token_type_hint=x&token_type_hint=y",
            "parameter 'token_type_hint' is repeated",
        ),
    ],
)
async def test_malformed_requests_are_invalid_request(
    pki: Any, keys: KeySet, body: str, description: str
) -> None:
    events = EventLog()
    request = form_request("/introspect", body, peer=peer_of(pki.client))
    response = await provider(pki, keys, events).handle("introspection", request)
    assert response == Response(
        400, {"error": "invalid_request", "error_description": description}, NO_STORE
    )
    assert events.of(TokenIntrospected) == []


@pytest.mark.parametrize(
    "peer_name", ["other_client", None], ids=["wrong-certificate", "no-certificate"]
)
async def test_unauthenticated_caller_is_invalid_client_and_learns_nothing(
    pki: Any, keys: KeySet, peer_name: str | None
) -> None:
    events = EventLog()
    peer = peer_of(getattr(pki, peer_name)) if peer_name else None
    response = await provider(pki, keys, events).handle(
        "introspection", introspect(own_token(keys, pki).token, peer)
    )
    assert response == Response(
        401, {"error": "invalid_client", "error_description": PUBLIC_DESCRIPTION}, NO_STORE
    )
    assert events.of(TokenIntrospected) == []
    assert events.of(RequestRejected)[0].endpoint == "introspection"


async def test_public_clients_may_not_introspect(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    issued = issue_token(keys.active, "app-1", now=NOW)
    request = introspect(issued.token, peer_of(pki.client), client_id="app-1")
    response = await provider(pki, keys, events).handle("introspection", request)
    assert response.status == 401
    assert events.of(ClientAuthFailed)[0].reason == AuthFailureReason.METHOD_NOT_ALLOWED


async def test_private_key_jwt_client_introspects_with_an_assertion_for_this_endpoint(
    pki: Any, keys: KeySet
) -> None:
    events = EventLog()
    issued = issue_token(keys.active, "jwt-1", now=NOW)
    assertion = sign_jws(
        JWT_KEY,
        {
            "iss": "jwt-1",
            "sub": "jwt-1",
            "aud": MTLS + "/introspect",
            "exp": T + 60,
            "jti": secrets.token_urlsafe(8),
        },
    )
    body = urlencode(
        {
            "token": issued.token,
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": assertion,
        }
    )
    p = provider(pki, keys, events)
    response = await p.handle("introspection", form_request("/introspect", body))
    assert response.json is not None and response.json["client_id"] == "jwt-1"
    replayed = await p.handle("introspection", form_request("/introspect", body))
    assert replayed.status == 401
    assert events.of(ClientAuthFailed)[0].reason == AuthFailureReason.ASSERTION_REPLAYED


async def test_get_is_405_with_allow_post(pki: Any, keys: KeySet) -> None:
    request = Request(method="GET", path="/introspect", base_url=MTLS)
    response = await provider(pki, keys, EventLog()).handle("introspection", request)
    assert response.status == 405
    assert response.headers == {**NO_STORE, "Allow": "POST"}


async def test_json_body_is_invalid_request(pki: Any, keys: KeySet) -> None:
    request = form_request(
        "/introspect", "{}", peer=peer_of(pki.client), headers={"content-type": "application/json"}
    )
    response = await provider(pki, keys, EventLog()).handle("introspection", request)
    assert response.json == {
        "error": "invalid_request",
        "error_description": "the request body must be application/x-www-form-urlencoded",
    }


# --- RFC 9701 JWT responses --------------------------------------------------------------------


def _decode(keys: KeySet, response: Response) -> jwt.Token:
    assert response.text is not None
    return jwt.decode(response.text, JoseKeySet.import_key_set(keys.jwks()), algorithms=["ES256"])


@pytest.mark.parametrize("owner", ["client-1", "client-2"], ids=["active", "inactive"])
async def test_jwt_response_wraps_the_introspection_response(
    pki: Any, keys: KeySet, owner: str
) -> None:
    p = provider(pki, keys, EventLog())
    issued = own_token(keys, pki, owner)
    plain = await p.handle("introspection", introspect(issued.token, peer_of(pki.client)))
    request = introspect(
        issued.token, peer_of(pki.client), headers={"accept": JWT_RESPONSE_MEDIA_TYPE}
    )
    response = await p.handle("introspection", request)
    assert (response.status, response.media_type, response.json) == (
        200,
        JWT_RESPONSE_MEDIA_TYPE,
        None,
    )
    assert response.headers == NO_STORE
    decoded = _decode(keys, response)
    assert decoded.header == {
        "typ": "token-introspection+jwt",
        "alg": "ES256",
        "kid": keys.active.kid,
    }
    assert decoded.claims == {
        "iss": ISSUER,
        "aud": "client-1",
        "iat": T,
        "token_introspection": plain.json,
    }


async def test_jwt_response_is_not_an_access_token(pki: Any, keys: KeySet) -> None:
    p = provider(pki, keys, EventLog())
    request = introspect(
        own_token(keys, pki).token, peer_of(pki.client), headers={"accept": JWT_RESPONSE_MEDIA_TYPE}
    )
    signed = (await p.handle("introspection", request)).text
    assert signed is not None
    response = await p.handle("introspection", introspect(signed, peer_of(pki.client)))
    assert response.json == {"active": False}


async def test_errors_stay_json_when_a_jwt_is_asked_for(pki: Any, keys: KeySet) -> None:
    request = introspect("x", None, headers={"accept": JWT_RESPONSE_MEDIA_TYPE})
    response = await provider(pki, keys, EventLog()).handle("introspection", request)
    assert (response.status, response.media_type, response.text) == (401, "application/json", None)


@pytest.mark.parametrize(
    ("accept", "wanted"),
    [
        (JWT_RESPONSE_MEDIA_TYPE, True),
        ("application/json, Application/Token-Introspection+JWT;q=0.5", True),
        (f"{JWT_RESPONSE_MEDIA_TYPE};q=0", False),
        (f"{JWT_RESPONSE_MEDIA_TYPE};q=zero", False),
        ("application/json", False),
        ("application/jwt", False),
        ("", False),
    ],
)
def test_accept_header_decides_the_jwt_response(accept: str, wanted: bool) -> None:
    request = Request(method="POST", path="/introspect", headers={"accept": accept})
    assert wants_jwt_response(request) is wanted


# --- wiring and metadata -----------------------------------------------------------------------


async def test_without_a_revoked_store_the_endpoints_are_not_served(pki: Any, keys: KeySet) -> None:
    events = EventLog()
    p = provider(pki, keys, events, with_revoked=False)
    assert p.endpoints == ("token", "discovery", "jwks")
    for name in ("introspection", "revocation"):
        response = await p.handle(name, introspect("x", peer_of(pki.client)))
        assert response.status == 404
    assert events.of(RequestRejected)[0].detail == (
        "endpoint='introspection' needs a RevokedTokenStore (Provider(revoked=...))"
    )
    doc = (await p.handle("discovery", Request(method="GET", path="/", base_url=ISSUER))).json
    assert doc is not None
    assert "introspection_endpoint" not in doc and "revocation_endpoint" not in doc


async def test_discovery_lists_introspection_and_revocation_with_their_methods(
    pki: Any, keys: KeySet
) -> None:
    p = provider(pki, keys, EventLog())
    doc = (await p.handle("discovery", Request(method="GET", path="/", base_url=ISSUER))).json
    assert doc is not None
    assert doc["introspection_endpoint"] == ISSUER + "/introspect"
    assert doc["revocation_endpoint"] == ISSUER + "/revoke"
    assert doc["mtls_endpoint_aliases"] == {
        "token_endpoint": MTLS + "/token",
        "revocation_endpoint": MTLS + "/revoke",
        "introspection_endpoint": MTLS + "/introspect",
    }
    confidential = ["tls_client_auth", "self_signed_tls_client_auth", "private_key_jwt"]
    assert doc["token_endpoint_auth_methods_supported"] == [*confidential, "none"]
    assert doc["revocation_endpoint_auth_methods_supported"] == [*confidential, "none"]
    assert doc["introspection_endpoint_auth_methods_supported"] == confidential
    algs = ["ES256", "ES384", "PS256", "RS256", "Ed25519"]
    for name in ("token", "introspection", "revocation"):
        assert doc[f"{name}_endpoint_auth_signing_alg_values_supported"] == algs
    assert doc["introspection_signing_alg_values_supported"] == ["ES256"]


async def test_discovery_lists_no_assertion_algorithms_without_private_key_jwt(
    pki: Any, keys: KeySet
) -> None:
    p = Provider(
        clients=clients(pki),
        verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
        keys=keys,
        jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
        policy=ServerPolicy(issuer=ISSUER, mtls_base_url=None),
        clock=FixedClock(NOW),
        events=EventLog(),
        revoked=DictRevokedTokenStore(),
    )
    doc = (await p.handle("discovery", Request(method="GET", path="/", base_url=ISSUER))).json
    assert doc is not None
    assert doc["introspection_endpoint_auth_methods_supported"] == [
        "tls_client_auth",
        "self_signed_tls_client_auth",
    ]
    assert not any(k.endswith("auth_signing_alg_values_supported") for k in doc)
    assert "mtls_endpoint_aliases" not in doc


def test_private_key_jwt_without_a_replay_cache_stops_construction(pki: Any, keys: KeySet) -> None:
    with pytest.raises(ValueError, match="needs a ReplayCache"):
        Provider(
            clients=clients(pki),
            verifier=ChainVerifier(TrustStore.from_pem(pki.root.pem)),
            keys=keys,
            jwks_fetcher=ScriptedJwksFetcher({"keys": []}),
            policy=POLICY,
            clock=FixedClock(NOW),
            events=EventLog(),
        )
