"""RemoteJwks against a real fake AS: discovery, caching, unknown ``kid`` refetch, outages (503)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from certbound.core.mtls.certificate import x5t_s256
from certbound.keys import LocalSigner
from certbound.resource import AccessTokenVerifier, RemoteJwks
from certbound.resource.errors import AS_UNAVAILABLE
from certbound.resource.jwks_cache import UNKNOWN_KEY
from conftest import (
    AUDIENCE,
    Clock,
    FakeAs,
    Files,
    Resource,
    error_of,
    fake_as_app,
    run_resource,
    serve,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def client_cnf(pki) -> str:
    return x5t_s256(pki.client.cert)


@pytest.fixture
def clock() -> Clock:
    return Clock(0.0)  # RemoteJwks uses a monotonic clock: any origin will do


@pytest.fixture
def resource(fake_as: FakeAs, files: Files, clock: Clock) -> Iterator[Resource]:
    keys = RemoteJwks(fake_as.issuer, verify=files.root, clock=clock)
    with run_resource(files, AccessTokenVerifier(keys, audience=AUDIENCE)) as running:
        yield running


@pytest.fixture(scope="module")
def never_served(fake_as: FakeAs, files: Files) -> Iterator[Resource]:
    """A resource whose key fetches all fail; no backoff, so nothing carries over between tests."""
    keys = RemoteJwks(fake_as.issuer, verify=files.root, failure_backoff=0)
    with run_resource(files, AccessTokenVerifier(keys, audience=AUDIENCE)) as running:
        yield running


@pytest.fixture
def stranger() -> LocalSigner:
    return LocalSigner.generate("ES256")


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert error_of(response) == {
        "error": "temporarily_unavailable",
        "error_description": AS_UNAVAILABLE,
    }
    assert response.headers["retry-after"] == "5"
    assert "www-authenticate" not in response.headers


def test_unknown_kid_refetches_once_then_is_invalid_token(
    resource, fake_as, clock, stranger, client_cnf
):
    assert resource.request("client", token=fake_as.token(client_cnf)).status_code == 200
    fetches = fake_as.jwks_fetches
    forged = fake_as.token(client_cnf, signer=stranger)
    clock.advance(31)
    first = resource.request("client", token=forged)
    again = resource.request("client", token=forged)
    assert fake_as.jwks_fetches == fetches + 1  # one refetch, then rate-limited
    for response in (first, again):
        assert response.status_code == 401
        assert error_of(response) == {"error": "invalid_token", "error_description": UNKNOWN_KEY}


def test_unknown_kid_right_after_a_fetch_does_not_refetch(resource, fake_as, stranger, client_cnf):
    assert resource.request("client", token=fake_as.token(client_cnf)).status_code == 200
    fetches = fake_as.jwks_fetches
    response = resource.request("client", token=fake_as.token(client_cnf, signer=stranger))
    assert response.status_code == 401
    assert fake_as.jwks_fetches == fetches


def test_rotated_key_is_found_by_the_refetch(resource, fake_as, clock, stranger, client_cnf):
    assert resource.request("client", token=fake_as.token(client_cnf)).status_code == 200
    fake_as.published.append(stranger)
    try:
        clock.advance(31)
        response = resource.request("client", token=fake_as.token(client_cnf, signer=stranger))
    finally:
        fake_as.published.remove(stranger)
    assert response.status_code == 200


def test_key_set_is_refreshed_after_its_ttl(resource, fake_as, clock, client_cnf):
    token = fake_as.token(client_cnf)
    assert resource.request("client", token=token).status_code == 200
    fetches, metadata = fake_as.jwks_fetches, fake_as.metadata_fetches
    clock.advance(299)
    assert resource.request("client", token=fake_as.token(client_cnf)).status_code == 200
    assert (fake_as.jwks_fetches, fake_as.metadata_fetches) == (fetches, metadata)
    clock.advance(2)
    assert resource.request("client", token=fake_as.token(client_cnf)).status_code == 200
    assert (fake_as.jwks_fetches, fake_as.metadata_fetches) == (fetches + 1, metadata + 1)


def _dead_issuer() -> str:
    with socket.socket() as sock:  # a port nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize("where", ["dead-port", "no-metadata"])
def test_unreachable_authorization_server_is_503_json(files, fake_as, client_cnf, where):
    issuer = _dead_issuer() if where == "dead-port" else f"{fake_as.issuer}/no-such-tenant"
    verifier = AccessTokenVerifier(RemoteJwks(issuer, verify=files.root), audience=AUDIENCE)
    with run_resource(files, verifier) as running:
        response = running.request("client", token=fake_as.token(client_cnf, issuer=issuer))
    assert_unavailable(response)


@pytest.mark.parametrize(
    ("metadata", "jwks_reply"),
    [
        ({"issuer": "https://evil.example"}, None),
        ({"jwks_uri": None}, None),
        ({"jwks_uri": "http://127.0.0.1/jwks"}, None),
        ({}, (500, b"{}")),
        ({}, (200, b"<html>")),
        ({}, (200, b"[]")),
        ({}, (200, b'{"keys": {}}')),
        ({}, (200, b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}')),
    ],
    ids=[
        "other-issuer",
        "no-jwks-uri",
        "http-jwks-uri",
        "jwks-500",
        "jwks-not-json",
        "jwks-not-object",
        "keys-not-array",
        "no-signature-key",
    ],
)
def test_unusable_metadata_or_jwks_is_503(never_served, fake_as, client_cnf, metadata, jwks_reply):
    fake_as.metadata_overrides, fake_as.jwks_reply = metadata, jwks_reply
    try:
        response = never_served.request("client", token=fake_as.token(client_cnf))
    finally:
        fake_as.metadata_overrides, fake_as.jwks_reply = {}, None
    assert_unavailable(response)


def test_openid_configuration_is_the_fallback_location(resource, fake_as, client_cnf):
    metadata = fake_as.metadata_fetches
    fake_as.oauth_metadata = False
    try:
        response = resource.request("client", token=fake_as.token(client_cnf))
    finally:
        fake_as.oauth_metadata = True
    assert response.status_code == 200
    assert fake_as.metadata_fetches == metadata + 2  # RFC 8414 location (404), then OIDC


def test_stale_keys_serve_through_a_short_outage_then_503(files, rs_cert, client_cnf):
    signer = LocalSigner.generate("ES256")
    state = FakeAs(signer, [signer], x5t_s256(rs_cert.cert))
    clock = Clock(0.0)
    authorization_server = serve(fake_as_app(state), files, {"issuer": False})
    state.issuer = f"https://127.0.0.1:{authorization_server.__enter__()['issuer']}"
    try:
        keys = RemoteJwks(state.issuer, verify=files.root, clock=clock)
        with run_resource(files, AccessTokenVerifier(keys, audience=AUDIENCE)) as running:
            fresh = running.request("client", token=state.token(client_cnf))
            authorization_server.__exit__(None, None, None)
            clock.advance(301)
            stale = running.request("client", token=state.token(client_cnf))
            clock.advance(3600)
            gone = running.request("client", token=state.token(client_cnf))
    finally:
        authorization_server.__exit__(None, None, None)
    assert (fresh.status_code, stale.status_code) == (200, 200)
    assert_unavailable(gone)


def test_a_failed_fetch_is_not_retried_within_the_backoff(files, fake_as, client_cnf):
    clock = Clock(0.0)
    keys = RemoteJwks(fake_as.issuer, verify=files.root, clock=clock)
    fake_as.jwks_reply = (500, b"{}")
    try:
        with run_resource(files, AccessTokenVerifier(keys, audience=AUDIENCE)) as running:
            fetches = fake_as.jwks_fetches
            first = running.request("client", token=fake_as.token(client_cnf))
            clock.advance(4.9)
            remembered = running.request("client", token=fake_as.token(client_cnf))
            assert fake_as.jwks_fetches == fetches + 1
            fake_as.jwks_reply = None
            clock.advance(0.1)
            recovered = running.request("client", token=fake_as.token(client_cnf))
            assert fake_as.jwks_fetches == fetches + 2
    finally:
        fake_as.jwks_reply = None
    assert_unavailable(first)
    assert_unavailable(remembered)
    assert recovered.status_code == 200
