"""A protected Starlette app with JWT verification, over real mutual TLS (RFC 8705 §3, RFC 6750).

The fake AS publishes a LocalSigner's keys; tokens are minted with ``issue_access_token`` and bound
to ``pki.client``; callers present real certificate chains to a real uvicorn listener.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from certbound.certsource import TrustedProxies, format_rfc9440
from certbound.core.mtls.binding import NO_CERTIFICATE, NOT_BOUND, OTHER_CERTIFICATE
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate, x5t_s256
from certbound.resource import AccessTokenVerifier, RemoteJwks
from certbound.resource.middleware import TOKEN_REQUIRED
from conftest import (
    AUDIENCE,
    TIMEOUT,
    FakeAs,
    Files,
    Resource,
    error_of,
    protected_app,
    run_resource,
    serve,
)
from testpki import Issued

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def verifier(fake_as: FakeAs, files: Files) -> AccessTokenVerifier:
    return AccessTokenVerifier(RemoteJwks(fake_as.issuer, verify=files.root), audience=AUDIENCE)


@pytest.fixture(scope="module")
def resource(files: Files, verifier: AccessTokenVerifier) -> Iterator[Resource]:
    with run_resource(files, verifier) as running:
        yield running


@pytest.fixture(scope="module")
def client_cnf(pki) -> str:
    return x5t_s256(pki.client.cert)


def cert_headers(issued: Issued) -> dict[str, str]:
    """The RFC 9440 headers a TLS-terminating proxy would add for ``issued``'s chain."""
    return format_rfc9440(PeerCertificate(issued.chain, CertificateSource.RFC9440))


def assert_invalid_token(response: httpx.Response, description: str) -> None:
    assert response.status_code == 401
    assert error_of(response) == {"error": "invalid_token", "error_description": description}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="orders", error="invalid_token", error_description="{description}"'
    )
    assert response.headers["cache-control"] == "no-store"


# --- the binding ------------------------------------------------------------------------------


def test_bound_token_with_its_certificate_reaches_the_handler(resource, fake_as, client_cnf):
    response = resource.request("client", token=fake_as.token(client_cnf))
    assert response.status_code == 200
    assert response.json() == {
        "client_id": "client-1",
        "sub": "client-1",
        "scopes": ["orders:read"],
        "cnf": client_cnf,
        "peer": client_cnf,
    }


def test_bound_token_over_another_clients_session_is_invalid_token(resource, fake_as, client_cnf):
    response = resource.request("other_client", token=fake_as.token(client_cnf))
    assert_invalid_token(response, OTHER_CERTIFICATE)


def test_bound_token_without_a_certificate_is_invalid_token(resource, fake_as, client_cnf):
    response = resource.request(None, token=fake_as.token(client_cnf), listener="optional")
    assert_invalid_token(response, NO_CERTIFICATE)


def test_unbound_token_is_refused_when_binding_is_required(resource, fake_as):
    assert_invalid_token(resource.request("client", token=fake_as.token(None)), NOT_BOUND)


def test_unbound_token_passes_when_binding_is_not_required(files, fake_as):
    verifier = AccessTokenVerifier(
        RemoteJwks(fake_as.issuer, verify=files.root), audience=AUDIENCE, require_binding=False
    )
    with run_resource(files, verifier) as running:
        response = running.request(None, token=fake_as.token(None), listener="optional")
    assert response.status_code == 200
    assert (response.json()["cnf"], response.json()["peer"]) == (None, None)


# --- RFC 9068 §4 checks -----------------------------------------------------------------------


def _bad_tokens(fake_as: FakeAs, cnf: str) -> dict[str, tuple[str, str]]:
    now = int(time.time())
    header_jwt = fake_as.signer.encode({"iss": fake_as.issuer, "aud": AUDIENCE}, {"typ": "JWT"})
    return {
        "expired": (
            fake_as.token(cnf, now=now - 400, lifetime=300),
            "the token has expired",
        ),
        "wrong-aud": (
            fake_as.token(cnf, audience="https://other-rs.example"),
            "the token is not intended for this audience",
        ),
        "wrong-iss": (
            fake_as.token(cnf, issuer="https://127.0.0.1:1"),
            "the token was issued by another issuer",
        ),
        "future-iat": (
            fake_as.token(cnf, now=now + 600),
            "the token was issued in the future",
        ),
        "typ-jwt": (header_jwt, "the token is not an access token (typ is not at+jwt)"),
        "garbage": ("not-a-jwt", "malformed access token"),
    }


@pytest.mark.parametrize(
    "case", ["expired", "wrong-aud", "wrong-iss", "future-iat", "typ-jwt", "garbage"]
)
def test_token_failing_rfc9068_checks_is_invalid_token(resource, fake_as, client_cnf, case):
    token, description = _bad_tokens(fake_as, client_cnf)[case]
    assert_invalid_token(resource.request("client", token=token), description)


def test_token_with_a_forged_signature_is_invalid_token(resource, fake_as, client_cnf):
    header, payload, _ = fake_as.token(client_cnf).split(".")
    _, _, signature = fake_as.token(client_cnf, subject="someone-else").split(".")
    response = resource.request("client", token=f"{header}.{payload}.{signature}")
    assert_invalid_token(response, "the token signature is invalid")


# --- scopes -----------------------------------------------------------------------------------


def test_route_scope_missing_is_insufficient_scope_403(resource, fake_as, client_cnf):
    response = resource.request(
        "client", "/api/orders", method="POST", token=fake_as.token(client_cnf)
    )
    assert response.status_code == 403
    assert error_of(response) == {
        "error": "insufficient_scope",
        "error_description": "the token lacks a scope this resource requires",
    }
    assert response.headers["www-authenticate"] == (
        'Bearer error="insufficient_scope", '
        'error_description="the token lacks a scope this resource requires", scope="orders:write"'
    )


def test_route_scope_present_runs_async_and_sync_endpoints(resource, fake_as, client_cnf):
    token = fake_as.token(client_cnf, scope=("orders:read", "orders:write"))
    written = resource.request("client", "/api/orders", method="POST", token=token)
    listed = resource.request("client", "/api/orders", token=token)
    assert (written.status_code, written.json()) == (200, {"written": True})
    assert (listed.status_code, listed.json()) == (200, {"orders": [], "client_id": "client-1"})


def test_dependency_refuses_a_missing_scope_with_the_challenge(resource, fake_as, client_cnf):
    response = resource.request("client", "/api/admin", token=fake_as.token(client_cnf))
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="orders", error="insufficient_scope"')
    assert challenge.endswith('scope="admin"')


def test_dependency_returns_the_verified_token(resource, fake_as, client_cnf):
    response = resource.request(
        "client", "/api/admin", token=fake_as.token(client_cnf, scope=("admin",))
    )
    assert (response.status_code, response.json()) == (200, {"admin": "client-1"})


# --- RFC 6750 §2.1 / §3.1 request handling -----------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "Basic Y2xpZW50OnNlY3JldA=="], ids=["none", "basic"]
)
def test_no_bearer_credentials_is_401_without_an_error_code(resource, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = resource.request("client", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="orders"'
    assert response.json() == {"message": TOKEN_REQUIRED}


@pytest.mark.parametrize(
    ("authorization", "description"),
    [
        ("Bearer", "the Authorization header is not 'Bearer <token>'"),
        ("Bearer a b", "the Authorization header is not 'Bearer <token>'"),
        ("Bearer tok%en", "the Authorization header is not 'Bearer <token>'"),
        ("Bearer\tabc", "the Authorization header is malformed"),
    ],
    ids=["no-token", "two-tokens", "bad-char", "tab"],
)
def test_malformed_authorization_is_400_invalid_request(resource, authorization, description):
    response = resource.request("client", headers={"Authorization": authorization})
    assert response.status_code == 400
    assert error_of(response) == {"error": "invalid_request", "error_description": description}
    assert response.headers["www-authenticate"].startswith(
        'Bearer realm="orders", error="invalid_request"'
    )


def test_two_authorization_headers_are_400(resource, fake_as, client_cnf):
    token = fake_as.token(client_cnf)
    with httpx.Client(verify=resource.files.context("client"), timeout=TIMEOUT) as client:
        response = client.get(
            resource.url("/api/whoami"),
            headers=[("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],
        )
    assert response.status_code == 400
    assert error_of(response)["error_description"] == "more than one Authorization header"


def test_token_in_the_query_is_refused(resource, fake_as, client_cnf):
    token = fake_as.token(client_cnf)
    response = resource.request("client", f"/api/whoami?access_token={token}")
    assert response.status_code == 400
    assert error_of(response) == {
        "error": "invalid_request",
        "error_description": "access tokens are accepted in the Authorization header only",
    }


def test_lowercase_bearer_scheme_is_accepted(resource, fake_as, client_cnf):
    token = fake_as.token(client_cnf)
    response = resource.request("client", headers={"Authorization": f"bearer  {token}"})
    assert response.status_code == 200


def test_unprotected_path_needs_no_token(resource):
    response = resource.request("client", "/health")
    assert (response.status_code, response.json()) == (200, {"ok": True, "token": None})


def test_certificate_header_from_an_untrusted_peer_is_refused(resource, pki, fake_as, client_cnf):
    response = resource.request(
        None, token=fake_as.token(client_cnf), listener="optional", headers=cert_headers(pki.client)
    )
    assert response.status_code == 400
    assert error_of(response)["error"] == "invalid_request"


def test_certificate_header_from_a_trusted_proxy_satisfies_the_binding(
    files, pki, fake_as, client_cnf
):
    verifier = AccessTokenVerifier(RemoteJwks(fake_as.issuer, verify=files.root), audience=AUDIENCE)
    app = protected_app(verifier, TrustedProxies.from_cidrs(["127.0.0.1"]))
    with serve(app, files, {"optional": False}) as ports:
        running = Resource(ports, files)
        headers = cert_headers(pki.client)
        good = running.request(
            None, token=fake_as.token(client_cnf), listener="optional", headers=headers
        )
        headers = cert_headers(pki.other_client)
        bad = running.request(
            None, token=fake_as.token(client_cnf), listener="optional", headers=headers
        )
    assert good.status_code == 200
    assert good.json()["cnf"] == client_cnf
    assert_invalid_token(bad, OTHER_CERTIFICATE)


# --- the verified-token cache -----------------------------------------------------------------


def test_reused_token_skips_the_signature_but_not_the_binding(
    resource, verifier, fake_as, client_cnf
):
    token = fake_as.token(client_cnf, jti="cache-probe")
    fetches = fake_as.jwks_fetches
    assert resource.request("client", token=token).status_code == 200
    before = verifier.stats
    assert resource.request("client", token=token).status_code == 200
    stolen = resource.request("other_client", token=token)
    after = verifier.stats
    assert after.signature_checks == before.signature_checks
    assert after.cache_hits == before.cache_hits + 2
    assert_invalid_token(stolen, OTHER_CERTIFICATE)
    assert fake_as.jwks_fetches == fetches


def test_reused_token_still_checks_the_scope(resource, verifier, fake_as, client_cnf):
    token = fake_as.token(client_cnf, jti="cache-scope-probe")
    assert resource.request("client", token=token).status_code == 200
    before = verifier.stats
    response = resource.request("client", "/api/orders", method="POST", token=token)
    assert response.status_code == 403
    assert verifier.stats.cache_hits == before.cache_hits + 1


def test_issuer_keys_are_fetched_once_for_many_tokens(files, fake_as, client_cnf):
    verifier = AccessTokenVerifier(RemoteJwks(fake_as.issuer, verify=files.root), audience=AUDIENCE)
    fetches, metadata = fake_as.jwks_fetches, fake_as.metadata_fetches
    with run_resource(files, verifier) as running:
        statuses = [
            running.request("client", token=fake_as.token(client_cnf)).status_code for _ in range(3)
        ]
    assert statuses == [200, 200, 200]
    assert verifier.stats.signature_checks == 3
    assert (fake_as.jwks_fetches - fetches, fake_as.metadata_fetches - metadata) == (1, 1)
