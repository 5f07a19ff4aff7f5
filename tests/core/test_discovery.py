"""core.endpoints.discovery and core.endpoints.jwks (RFC 8414, RFC 8705 §5), core.policy URLs."""

from __future__ import annotations

from typing import Any

import pytest

from certbound.core.endpoints.discovery import discovery_document, server_metadata
from certbound.core.endpoints.jwks import jwks_document
from certbound.core.messages import Response
from certbound.core.policy import (
    ENDPOINT_PATHS,
    ServerPolicy,
    endpoint_url,
    mtls_endpoint_url,
    token_audience,
)
from certbound.keys import KeySet, LocalSigner

ISSUER = "https://as.example.com"
MTLS = "https://mtls.as.example.com:8444"


def _policy(**overrides: Any) -> ServerPolicy:
    return ServerPolicy(**{"issuer": ISSUER, "mtls_base_url": MTLS, **overrides})


# --- policy -----------------------------------------------------------------------------------


def test_endpoint_urls_come_from_the_one_path_table() -> None:
    policy = _policy()
    assert endpoint_url(policy, "token") == "https://as.example.com/token"
    assert mtls_endpoint_url(policy, "token") == "https://mtls.as.example.com:8444/token"
    assert {n: endpoint_url(policy, n) for n in ENDPOINT_PATHS} == {
        n: ISSUER + p for n, p in ENDPOINT_PATHS.items()
    }


def test_mtls_endpoint_url_is_none_without_an_alias_listener() -> None:
    assert mtls_endpoint_url(_policy(mtls_base_url=None), "token") is None


def test_unknown_endpoint_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown endpoint 'tokn'"):
        endpoint_url(_policy(), "tokn")


def test_token_audience_defaults_to_the_issuer() -> None:
    assert token_audience(_policy()) == (ISSUER,)
    assert token_audience(_policy(access_token_audience=("https://rs",))) == ("https://rs",)


def test_policy_defaults_are_the_secure_ones() -> None:
    policy = _policy()
    assert policy.require_bound_tokens is True
    assert policy.allow_jwks_uri_private is False
    assert policy.access_token_lifetime == 600


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param(
            {"issuer": "http://as.example.com"}, "issuer must be an https:// URL", id="http"
        ),
        pytest.param({"issuer": "https://as.example.com/"}, "trailing '/'", id="slash"),
        pytest.param({"issuer": "https://as.example.com?x=1"}, "no query", id="query"),
        pytest.param({"issuer": "https://u@as.example.com"}, "userinfo", id="userinfo"),
        pytest.param(
            {"mtls_base_url": "https:///x"}, "mtls_base_url must be an https:// URL", id="mtls-host"
        ),
        pytest.param({"access_token_lifetime": 0}, "access_token_lifetime", id="lifetime"),
        pytest.param({"client_auth_methods": ()}, "at least one method", id="no-methods"),
        pytest.param(
            {"client_auth_methods": ("client_secret_basic",)},
            "unknown client_auth_methods",
            id="secret",
        ),
    ],
)
def test_policy_refuses_invalid_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _policy(**overrides)


def test_policy_accepts_an_issuer_with_a_path() -> None:
    policy = _policy(issuer="https://as.example.com/tenant1")
    assert endpoint_url(policy, "jwks") == "https://as.example.com/tenant1/jwks"


# --- discovery --------------------------------------------------------------------------------


def test_server_metadata_of_a_client_credentials_mtls_server() -> None:
    assert server_metadata(_policy()) == {
        "issuer": ISSUER,
        "token_endpoint": f"{ISSUER}/token",
        "jwks_uri": f"{ISSUER}/jwks",
        "token_endpoint_auth_methods_supported": [
            "tls_client_auth",
            "self_signed_tls_client_auth",
        ],
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": [],
        "tls_client_certificate_bound_access_tokens": True,
        "mtls_endpoint_aliases": {"token_endpoint": f"{MTLS}/token"},
    }


def test_server_metadata_has_no_aliases_without_an_mtls_listener() -> None:
    assert "mtls_endpoint_aliases" not in server_metadata(_policy(mtls_base_url=None))


def test_server_metadata_lists_enabled_endpoints_and_aliases_only_client_facing_ones() -> None:
    endpoints = ("token", "jwks", "authorization", "introspection", "revocation", "par")
    doc = server_metadata(
        _policy(scopes_supported=("read",)),
        endpoints=endpoints,
        grant_types=("authorization_code", "client_credentials"),
        response_types=("code",),
        code_challenge_methods=("S256",),
    )
    assert doc["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert doc["pushed_authorization_request_endpoint"] == f"{ISSUER}/par"
    assert doc["mtls_endpoint_aliases"] == {
        "token_endpoint": f"{MTLS}/token",
        "revocation_endpoint": f"{MTLS}/revoke",
        "introspection_endpoint": f"{MTLS}/introspect",
        "pushed_authorization_request_endpoint": f"{MTLS}/par",
    }
    methods = ["tls_client_auth", "self_signed_tls_client_auth"]
    assert doc["introspection_endpoint_auth_methods_supported"] == methods
    assert doc["revocation_endpoint_auth_methods_supported"] == methods
    assert doc["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["scopes_supported"] == ["read"]
    assert "registration_endpoint" not in doc


def test_discovery_document_is_cacheable_json() -> None:
    response = discovery_document(server_metadata(_policy()))
    assert response.status == 200
    assert response.json is not None
    assert response.json["issuer"] == ISSUER
    assert response.headers == {"Cache-Control": "public, max-age=300"}
    assert response.media_type == "application/json"


# --- jwks -------------------------------------------------------------------------------------


def test_jwks_document_publishes_the_public_keys() -> None:
    keys = KeySet([LocalSigner.generate(), LocalSigner.generate("Ed25519")])
    response = jwks_document(keys.jwks())
    assert response == Response(
        200, json=keys.jwks(), headers={"Cache-Control": "public, max-age=300"}
    )


@pytest.mark.parametrize(
    ("jwks", "message"),
    [
        pytest.param({}, "needs a 'keys' list", id="no-keys"),
        pytest.param({"keys": ["x"]}, "needs a 'keys' list", id="not-objects"),
        pytest.param(
            {"keys": [{"kty": "EC", "kid": "k1", "d": "secret"}]},
            r"refusing to publish private key members \['d'\] of kid 'k1'",
            id="private",
        ),
    ],
)
def test_jwks_document_refuses_what_is_not_a_public_jwk_set(
    jwks: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        jwks_document(jwks)
