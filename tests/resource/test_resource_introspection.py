"""IntrospectionVerifier (RFC 7662 over mTLS) against the fake AS's introspection endpoint."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from certbound.core.mtls.binding import NO_CERTIFICATE, OTHER_CERTIFICATE
from certbound.core.mtls.certificate import x5t_s256
from certbound.resource import IntrospectionVerifier
from certbound.resource.introspection import NOT_ACTIVE
from conftest import (
    AUDIENCE,
    RS_CLIENT_ID,
    Clock,
    FakeAs,
    Files,
    Resource,
    error_of,
    run_resource,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def resource(fake_as: FakeAs, files: Files, clock: Clock) -> Iterator[Resource]:
    verifier = IntrospectionVerifier(
        fake_as.issuer,
        client_id=RS_CLIENT_ID,
        verify=files.root,
        client_cert=files.pair("rs"),
        audience=AUDIENCE,
        clock=clock,
    )
    with run_resource(files, verifier) as running:
        yield running


@pytest.fixture(scope="module")
def client_cnf(pki) -> str:
    return x5t_s256(pki.client.cert)


def register(fake_as: FakeAs, clock: Clock, bound_to: str | None, **overrides: Any) -> str:
    """An opaque token the fake AS answers as active (RFC 7662 §2.2), bound to ``bound_to``."""
    token = secrets.token_urlsafe(24)
    answer: dict[str, Any] = {
        "active": True,
        "iss": fake_as.issuer,
        "aud": AUDIENCE,
        "client_id": "client-1",
        "sub": "client-1",
        "scope": "orders:read",
        "token_type": "Bearer",
        "exp": int(clock.now) + 300,
    }
    if bound_to is not None:
        answer["cnf"] = {"x5t#S256": bound_to}
    answer.update(overrides)
    fake_as.introspection[token] = {k: v for k, v in answer.items() if v is not None}
    return token


def introspections_of(fake_as: FakeAs, token: str) -> list[dict[str, str]]:
    return [form for form in fake_as.introspections if form["token"] == token]


def test_active_bound_token_reaches_the_handler_via_the_mtls_alias(
    resource, fake_as, clock, client_cnf
):
    token = register(fake_as, clock, client_cnf)
    response = resource.request("client", token=token)
    assert response.status_code == 200
    assert response.json()["cnf"] == client_cnf
    assert introspections_of(fake_as, token) == [
        {"token": token, "token_type_hint": "access_token", "client_id": RS_CLIENT_ID}
    ]
    assert fake_as.introspection_urls[-1] == f"{fake_as.mtls_base}/introspect"


def test_bound_token_from_another_certificate_is_invalid_token(
    resource, fake_as, clock, client_cnf
):
    token = register(fake_as, clock, client_cnf)
    response = resource.request("other_client", token=token)
    assert response.status_code == 401
    assert error_of(response)["error_description"] == OTHER_CERTIFICATE


def test_bound_token_without_a_certificate_is_invalid_token(resource, fake_as, clock, client_cnf):
    token = register(fake_as, clock, client_cnf)
    response = resource.request(None, token=token, listener="optional")
    assert error_of(response)["error_description"] == NO_CERTIFICATE


def test_inactive_token_is_invalid_token(resource):
    response = resource.request("client", token="never-issued")
    assert response.status_code == 401
    assert error_of(response) == {"error": "invalid_token", "error_description": NOT_ACTIVE}


@pytest.mark.parametrize(
    ("overrides", "description"),
    [
        ({"exp": 1}, "the token has expired"),
        ({"iss": "https://other.example"}, "the token was issued by another issuer"),
        ({"aud": ["https://other-rs.example"]}, "the token is not intended for this audience"),
        ({"aud": None}, "the token is not intended for this audience"),
        ({"token_type": "refresh_token"}, "the token is not an access token"),
        ({"scope": "a  b"}, "the token's scope claim is malformed"),
        ({"cnf": {"jkt": "abc"}}, "the token is bound by a method other than a client certificate"),
    ],
    ids=["expired", "other-iss", "other-aud", "no-aud", "refresh-token", "bad-scope", "dpop-cnf"],
)
def test_active_answer_failing_a_check_is_invalid_token(
    resource, fake_as, clock, client_cnf, overrides, description
):
    response = resource.request("client", token=register(fake_as, clock, client_cnf, **overrides))
    assert response.status_code == 401
    assert error_of(response) == {"error": "invalid_token", "error_description": description}


def test_audience_in_a_list_is_accepted(resource, fake_as, clock, client_cnf):
    token = register(fake_as, clock, client_cnf, aud=["https://x.example", AUDIENCE])
    assert resource.request("client", token=token).status_code == 200


def test_missing_scope_is_insufficient_scope(resource, fake_as, clock, client_cnf):
    token = register(fake_as, clock, client_cnf)
    response = resource.request("client", "/api/orders", method="POST", token=token)
    assert response.status_code == 403
    assert response.headers["www-authenticate"].endswith('scope="orders:write"')


def test_answer_is_cached_briefly_and_never_past_exp(resource, fake_as, clock, client_cnf):
    token = register(fake_as, clock, client_cnf)
    assert resource.request("client", token=token).status_code == 200
    assert resource.request("client", token=token).status_code == 200
    assert resource.request("other_client", token=token).status_code == 401  # binding per request
    assert len(introspections_of(fake_as, token)) == 1
    fake_as.introspection[token] = {"active": False}  # revoked at the AS
    clock.advance(10)
    assert resource.request("client", token=token).status_code == 401
    assert len(introspections_of(fake_as, token)) == 2
    short = register(fake_as, clock, client_cnf, exp=int(clock.now) + 2)
    assert resource.request("client", token=short).status_code == 200
    clock.advance(3)  # past exp (within the 30 s leeway) but before the cache TTL
    assert resource.request("client", token=short).status_code == 200
    assert len(introspections_of(fake_as, short)) == 2


def test_resource_server_without_its_certificate_gets_503(files, fake_as, clock, client_cnf):
    verifier = IntrospectionVerifier(fake_as.issuer, client_id=RS_CLIENT_ID, verify=files.root)
    with run_resource(files, verifier) as running:
        response = running.request("client", token=register(fake_as, clock, client_cnf))
    assert response.status_code == 503
    assert error_of(response)["error"] == "temporarily_unavailable"


def test_answer_without_a_boolean_active_is_503(resource, fake_as):
    fake_as.introspection["odd-answer"] = {"active": "yes"}
    response = resource.request("client", token="odd-answer")
    assert response.status_code == 503


def test_configured_endpoint_skips_discovery(files, fake_as, clock, client_cnf):
    verifier = IntrospectionVerifier(
        fake_as.issuer,
        client_id=RS_CLIENT_ID,
        verify=files.root,
        client_cert=files.pair("rs"),
        endpoint=f"{fake_as.mtls_base}/introspect",
        clock=clock,
    )
    metadata = fake_as.metadata_fetches
    with run_resource(files, verifier) as running:
        response = running.request("client", token=register(fake_as, clock, client_cnf))
    assert response.status_code == 200
    assert fake_as.metadata_fetches == metadata
