"""certbound.client._token: the client credentials request and RFC 6749 §5.1 / §5.2 responses."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey

from certbound.client import OAuthClientError, ServerResponseError, TokenResponse
from certbound.client._token import parse_token_response, token_flow, token_request

ENDPOINT = "https://mtls.as.example.com/token"


def answer(status: int, body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, content=content, request=httpx.Request("POST", ENDPOINT))


def parse(status: int, body: Any) -> TokenResponse:
    return parse_token_response(answer(status, body), client_id="svc")


@pytest.fixture(scope="module")
def signed() -> str:
    key = ECKey.generate_key("P-256")
    claims = {"client_id": "svc", "cnf": {"x5t#S256": "abc"}}
    return jwt.encode({"alg": "ES256", "typ": "at+jwt"}, claims, key)


def test_request_is_a_form_post_with_client_id_and_no_secret() -> None:
    request = token_request(ENDPOINT, client_id="svc", scope="read write")
    assert request.method == "POST" and str(request.url) == ENDPOINT
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"], "client_id": ["svc"], "scope": ["read write"]
    }  # fmt: skip
    assert "authorization" not in request.headers


def test_request_without_scope_sends_none() -> None:
    request = token_request(ENDPOINT, client_id="svc", scope=None)
    assert "scope" not in parse_qs(request.content.decode())


def test_flow_sends_one_request_and_parses_the_answer(signed: str) -> None:
    flow = token_flow(ENDPOINT, client_id="svc", scope=None)
    request = next(flow)
    with pytest.raises(StopIteration) as done:
        flow.send(answer(200, {"access_token": signed, "token_type": "Bearer"}))
    assert request.method == "POST"
    assert done.value.value.access_token == signed


def test_jwt_token_is_decoded_for_display(signed: str) -> None:
    token = parse(200, {"access_token": signed, "token_type": "bearer", "expires_in": 600,
                        "scope": "read"})  # fmt: skip
    assert (token.expires_in, token.scope, token.token_type) == (600, "read", "bearer")
    assert token.header == {"alg": "ES256", "typ": "at+jwt"}
    assert token.claims == {"client_id": "svc", "cnf": {"x5t#S256": "abc"}}
    assert token.cnf_thumbprint == "abc"
    assert signed not in repr(token)


def test_opaque_token_has_no_claims() -> None:
    token = parse(200, {"access_token": "opaque-handle", "token_type": "Bearer"})
    assert token.claims is None and token.header is None and token.cnf_thumbprint is None
    assert token.expires_in is None and token.scope is None


@pytest.mark.parametrize(
    "payload", [b"not json", b"[1, 2]", b"\xff\xfe"], ids=["not-json", "array", "not-utf8"]
)
def test_jws_whose_payload_is_not_a_claims_object_has_no_claims(payload: bytes) -> None:
    key = ECKey.generate_key("P-256")
    compact = jws.serialize_compact({"alg": "ES256"}, payload, key)
    token = parse(200, {"access_token": compact, "token_type": "Bearer"})
    assert token.claims is None and token.header == {"alg": "ES256"}


def test_cnf_without_thumbprint_is_not_bound() -> None:
    key = ECKey.generate_key("P-256")
    unbound = jwt.encode({"alg": "ES256"}, {"cnf": "x"}, key)
    assert parse(200, {"access_token": unbound, "token_type": "Bearer"}).cnf_thumbprint is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>", "answered 200 without JSON"),
        ({"token_type": "Bearer"}, "lacks access_token or token_type"),
        ({"access_token": "", "token_type": "Bearer"}, "lacks access_token or token_type"),
        ({"access_token": "t"}, "lacks access_token or token_type"),
        ({"access_token": "t", "token_type": "DPoP"}, "issued a 'DPoP' token; only Bearer"),
        ({"access_token": "t", "token_type": "Bearer", "expires_in": -1}, "bad expires_in"),
        ({"access_token": "t", "token_type": "Bearer", "expires_in": "60"}, "bad expires_in"),
        ({"access_token": "t", "token_type": "Bearer", "expires_in": True}, "bad expires_in"),
    ],
    ids=["html", "no-token", "empty-token", "no-type", "dpop", "negative", "string", "bool"],
)
def test_malformed_success_is_a_server_response_error(body: Any, message: str) -> None:
    with pytest.raises(ServerResponseError, match=message):
        parse(200, body)


def test_invalid_client_names_the_certificate_and_the_client_id() -> None:
    with pytest.raises(OAuthClientError) as info:
        parse(401, {"error": "invalid_client", "error_description": "no matching subject"})
    error = info.value
    assert (error.error, error.description, error.status) == (
        "invalid_client", "no matching subject", 401
    )  # fmt: skip
    assert error.message == (
        "the server did not accept this certificate for client_id 'svc' "
        "(server said invalid_client: no matching subject)"
    )


def test_other_oauth_errors_carry_the_servers_words() -> None:
    with pytest.raises(OAuthClientError) as info:
        parse(400, {"error": "invalid_scope"})
    assert info.value.message == "invalid_scope (400)" and info.value.description is None


@pytest.mark.parametrize("body", [b"oops", {"error": 5}, {"no": "error"}])
def test_error_status_without_an_oauth_body_is_a_server_response_error(body: Any) -> None:
    with pytest.raises(ServerResponseError, match="answered HTTP 502 without an OAuth error"):
        parse(502, body)
