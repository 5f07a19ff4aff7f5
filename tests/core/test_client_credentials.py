"""RFC 6749 §4.4 client credentials grant with RFC 8705 §3 bound tokens, and the grant registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from provider_fakes import EventLog, peer_of, tls_client, token_request

from certbound.core.client_auth import AuthenticatedClient
from certbound.core.clients import Client
from certbound.core.errors import (
    InvalidGrantError,
    InvalidScopeError,
    UnauthorizedClientError,
)
from certbound.core.events import TokenIssued
from certbound.core.form import parse_form
from certbound.core.grants import GrantContext, GrantRegistry
from certbound.core.grants.client_credentials import ClientCredentialsGrant
from certbound.core.messages import Response
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.policy import ServerPolicy
from certbound.core.tokens.access_token import verify_access_token
from certbound.keys.keyset import KeySet
from certbound.keys.local import LocalSigner
from testpki import NOW

ISSUER = "https://as.example.com"


@pytest.fixture(scope="module")
def keys() -> KeySet:
    return KeySet([LocalSigner.generate("ES256")])


@pytest.fixture
def peer(pki: Any) -> PeerCertificate:
    return peer_of(pki.client)


def policy(**kwargs: Any) -> ServerPolicy:
    return ServerPolicy(issuer=ISSUER, mtls_base_url="https://mtls.as.example.com", **kwargs)


def context(
    client: Client,
    keys: KeySet,
    *,
    peer: PeerCertificate | None,
    body: str = "grant_type=client_credentials&client_id=client-1",
    server: ServerPolicy | None = None,
    events: EventLog | None = None,
) -> GrantContext:
    request = token_request(body, peer=peer)
    return GrantContext(
        request=request,
        form=parse_form(request.body),
        client=AuthenticatedClient(client, client.token_endpoint_auth_method, peer),
        policy=server or policy(),
        signer=keys.active,
        events=events if events is not None else EventLog(),
        now=NOW,
    )


def claims_of(response: Response, keys: KeySet, audience: str = ISSUER) -> dict[str, Any]:
    assert response.json is not None
    token = response.json["access_token"]
    now = int(NOW.timestamp())
    return dict(verify_access_token(token, keys.jwks(), issuer=ISSUER, audience=audience, now=now))


async def test_issues_a_certificate_bound_token(keys: KeySet, peer: PeerCertificate) -> None:
    events = EventLog()
    client = tls_client(scope=("read", "write"))
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=peer, events=events)
    )
    assert response.status == 200
    assert response.headers == {"Cache-Control": "no-store", "Pragma": "no-cache"}
    assert response.json is not None
    assert response.json["token_type"] == "Bearer"
    assert response.json["expires_in"] == 600
    assert response.json["scope"] == "read write"
    assert "refresh_token" not in response.json  # RFC 6749 §4.4.3
    claims = claims_of(response, keys)
    assert claims["cnf"] == {"x5t#S256": peer.thumbprint}
    assert claims["sub"] == claims["client_id"] == "client-1"
    assert claims["aud"] == ISSUER  # no configured audience: the issuer
    assert claims["iat"] == int(NOW.timestamp())
    assert claims["exp"] - claims["iat"] == 600
    (event,) = events.events
    assert event == TokenIssued(
        "client-1", claims["jti"], "client_credentials", ("read", "write"), peer.thumbprint
    )


async def test_configured_audience_and_client_lifetime_are_used(
    keys: KeySet, peer: PeerCertificate
) -> None:
    client = tls_client(access_token_lifetime=60)
    server = policy(access_token_audience=("https://rs1.example.com", "https://rs2.example.com"))
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=peer, server=server)
    )
    claims = claims_of(response, keys, audience="https://rs2.example.com")
    assert claims["aud"] == ["https://rs1.example.com", "https://rs2.example.com"]
    assert claims["exp"] - claims["iat"] == 60
    assert response.json is not None
    assert response.json["expires_in"] == 60


async def test_client_without_the_grant_type_is_unauthorized_client(
    keys: KeySet, peer: PeerCertificate
) -> None:
    client = tls_client(grant_types=("authorization_code",))
    with pytest.raises(UnauthorizedClientError) as caught:
        await ClientCredentialsGrant().handle(context(client, keys, peer=peer))
    assert caught.value.body()["error"] == "unauthorized_client"
    assert caught.value.detail == "grant_types of 'client-1': authorization_code"


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        (None, ("read", "write")),  # no scope: every allowed scope
        ("write", ("write",)),
        ("write read", ("write", "read")),
    ],
)
async def test_scope_is_granted_from_the_client_allow_list(
    keys: KeySet, peer: PeerCertificate, requested: str | None, granted: tuple[str, ...]
) -> None:
    body = "grant_type=client_credentials&client_id=client-1"
    if requested is not None:
        body += "&scope=" + requested.replace(" ", "+")
    events = EventLog()
    client = tls_client(scope=("read", "write"))
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=peer, body=body, events=events)
    )
    assert response.json is not None
    assert response.json["scope"] == " ".join(granted)
    assert claims_of(response, keys)["scope"] == " ".join(granted)
    assert events.of(TokenIssued)[0].scope == granted


async def test_scope_not_allowed_is_invalid_scope(keys: KeySet, peer: PeerCertificate) -> None:
    body = "grant_type=client_credentials&client_id=client-1&scope=read+admin"
    events = EventLog()
    client = tls_client(scope=("read",))
    with pytest.raises(InvalidScopeError) as caught:
        await ClientCredentialsGrant().handle(
            context(client, keys, peer=peer, body=body, events=events)
        )
    assert caught.value.body() == {
        "error": "invalid_scope",
        "error_description": "scope not allowed for this client: admin",
    }
    assert events.events == []


async def test_malformed_scope_is_invalid_scope(keys: KeySet, peer: PeerCertificate) -> None:
    body = "grant_type=client_credentials&client_id=client-1&scope=read++write"
    with pytest.raises(InvalidScopeError, match="exactly one space"):
        await ClientCredentialsGrant().handle(
            context(tls_client(scope=("read", "write")), keys, peer=peer, body=body)
        )


async def test_scope_withdrawn_from_the_server_is_not_granted(
    keys: KeySet, peer: PeerCertificate
) -> None:
    client = tls_client(scope=("read", "legacy"))
    server = policy(scopes_supported=("read", "write"))
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=peer, server=server)
    )
    assert response.json is not None
    assert response.json["scope"] == "read"
    body = "grant_type=client_credentials&client_id=client-1&scope=legacy"
    with pytest.raises(InvalidScopeError):
        await ClientCredentialsGrant().handle(
            context(client, keys, peer=peer, body=body, server=server)
        )


async def test_client_without_scopes_gets_a_token_without_scope(
    keys: KeySet, peer: PeerCertificate
) -> None:
    response = await ClientCredentialsGrant().handle(context(tls_client(), keys, peer=peer))
    assert response.json is not None
    assert "scope" not in response.json
    assert "scope" not in claims_of(response, keys)


async def test_unbound_client_gets_no_cnf_when_the_server_allows_it(
    keys: KeySet, peer: PeerCertificate
) -> None:
    events = EventLog()
    client = tls_client(tls_client_certificate_bound_access_tokens=False)
    server = policy(require_bound_tokens=False)
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=peer, server=server, events=events)
    )
    assert "cnf" not in claims_of(response, keys)
    assert events.of(TokenIssued)[0].cnf_thumbprint is None


async def test_server_requiring_bound_tokens_binds_even_an_unbound_client(
    keys: KeySet, peer: PeerCertificate
) -> None:
    client = tls_client(tls_client_certificate_bound_access_tokens=False)
    response = await ClientCredentialsGrant().handle(context(client, keys, peer=peer))
    assert claims_of(response, keys)["cnf"] == {"x5t#S256": peer.thumbprint}


@pytest.mark.parametrize(
    ("client_wants", "server_requires"), [(True, False), (False, True), (True, True)]
)
async def test_bound_token_without_a_certificate_is_invalid_grant(
    keys: KeySet, client_wants: bool, server_requires: bool
) -> None:
    events = EventLog()
    client = tls_client(tls_client_certificate_bound_access_tokens=client_wants)
    server = policy(require_bound_tokens=server_requires)
    with pytest.raises(InvalidGrantError) as caught:
        await ClientCredentialsGrant().handle(
            context(client, keys, peer=None, server=server, events=events)
        )
    assert caught.value.detail == "bound token required but no certificate was presented"
    assert events.events == []


async def test_unbound_token_without_certificate_when_nobody_asks_for_binding(keys: KeySet) -> None:
    client = tls_client(tls_client_certificate_bound_access_tokens=False)
    server = policy(require_bound_tokens=False)
    response = await ClientCredentialsGrant().handle(
        context(client, keys, peer=None, server=server)
    )
    assert "cnf" not in claims_of(response, keys)


async def test_token_ids_are_unique_per_issue(keys: KeySet, peer: PeerCertificate) -> None:
    grant = ClientCredentialsGrant()
    first = claims_of(await grant.handle(context(tls_client(), keys, peer=peer)), keys)
    second = claims_of(await grant.handle(context(tls_client(), keys, peer=peer)), keys)
    assert first["jti"] != second["jti"]


# --- GrantRegistry -------------------------------------------------------------------------------


class _EchoGrant:
    grant_type = "urn:example:echo"

    async def handle(self, ctx: GrantContext) -> Response:
        return Response(200, {"client": ctx.client.client.client_id})


def test_registry_keeps_registration_order_and_membership() -> None:
    registry = GrantRegistry([ClientCredentialsGrant()])
    echo = _EchoGrant()
    registry.register(echo)
    assert registry.grant_types() == ("client_credentials", "urn:example:echo")
    assert registry.get("urn:example:echo") is echo
    assert registry.get("password") is None
    assert "client_credentials" in registry
    assert "password" not in registry


def test_registry_refuses_a_second_handler_for_a_grant_type() -> None:
    registry = GrantRegistry([ClientCredentialsGrant()])
    with pytest.raises(ValueError, match="client_credentials"):
        registry.register(ClientCredentialsGrant())


def test_grant_context_is_immutable(keys: KeySet, pki: Any) -> None:
    ctx = context(tls_client(), keys, peer=peer_of(pki.client))
    with pytest.raises(AttributeError):
        ctx.now = NOW + dt.timedelta(hours=1)  # type: ignore[misc]
