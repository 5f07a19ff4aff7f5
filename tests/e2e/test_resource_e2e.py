"""AS → client → resource server over real TLS: the example API guarding certificate-bound tokens.

The real authorization server (both listeners) issues tokens; the example API
(``certbound.examples``) runs on certbound's TLS listener (client certificate requested) with an
``AccessTokenVerifier`` fed by the AS's discovered JWKS; clients are the client library or
httpx with the test PKI's certificates. Tokens the AS would never issue (expired, another
audience or issuer, an unknown key) are minted with the AS's own signing key or a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asserver import AsServer
from rshelpers import (
    CLIENT_DN,
    EXPIRED,
    OTHER_AUDIENCE,
    OTHER_DN,
    OTHER_ISSUER,
    UNKNOWN_KID,
    SkewClock,
    dn_client,
    mint,
    register,
    running_command,
)

from certbound.cli._resource_server import background_listeners, bind
from certbound.client import Client
from certbound.core.mtls.binding import NO_CERTIFICATE, OTHER_CERTIFICATE
from certbound.examples import EXAMPLE_REALM, create_example_api
from certbound.keys import LocalSigner
from certbound.resource import AccessTokenVerifier, RemoteJwks
from certbound.server.tls import TrustMaterial, build_server_context
from conftest import PkiFiles

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Api:
    url: str
    clock: SkewClock


@pytest.fixture(scope="module")
def clients(as_server: AsServer) -> None:
    """rs-client (client.pem, read write) and reader (other_client.pem, read only)."""
    register(
        as_server,
        dn_client("rs-client", CLIENT_DN, ("read", "write")),
        dn_client("reader", OTHER_DN, ("read",)),
    )


@pytest.fixture(scope="module")
def api(as_server: AsServer, pki_files: PkiFiles, clients: None) -> Iterator[Api]:
    clock = SkewClock()
    verifier = AccessTokenVerifier(
        RemoteJwks(as_server.issuer, verify=pki_files.root), audience=as_server.issuer, clock=clock
    )
    context = build_server_context(
        *pki_files.pair("server"),
        trust=TrustMaterial.from_pem_file(pki_files.root),
        require_client_cert=False,
    )
    sock = bind("127.0.0.1", 0)
    url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    with background_listeners(create_example_api(verifier), {"api": (sock, context)}):
        yield Api(url, clock)


def library_client(server: AsServer, files: PkiFiles, stem: str = "client") -> Client:
    client_id = {"client": "rs-client", "other_client": "reader"}[stem]
    return Client(server.issuer, *files.pair(stem), client_id=client_id, ca=files.root)


def raw_call(
    server: AsServer, files: PkiFiles, url: str, token: str | None, stem: str | None = "client"
) -> httpx.Response:
    """GET ``url`` with httpx: ``stem``'s certificate (None: none) and ``token`` as is."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    cert = files.pair(stem) if stem else (None, None)
    with server.client(*cert) as http:
        return http.get(url, headers=headers)


def assert_invalid_token(response: httpx.Response, description: str) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_token", "error_description": description}
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="{EXAMPLE_REALM}", error="invalid_token", error_description="{description}"'
    )
    assert response.headers["cache-control"] == "no-store"


# --- the token and its certificate --------------------------------------------------------------


def test_bound_token_works_with_its_certificate(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    with library_client(as_server, pki_files) as client, client.http() as http:
        hello = http.get(f"{api.url}/hello")
        whoami = http.get(f"{api.url}/whoami")
        accounts = http.get(f"{api.url}/accounts")
        payment = http.post(f"{api.url}/payments", json={"to": "acc-002", "amount": "10.00"})
    assert hello.status_code == 200, hello.text
    assert hello.json() == {"message": "hello, rs-client", "client_id": "rs-client"}
    me = whoami.json()
    assert me["cnf_x5t#S256"] == me["certificate"]["x5t#S256"] == client.thumbprint
    assert me["certificate"]["subject"] == CLIENT_DN and me["certificate"]["source"] == "tls"
    assert me["scopes"] == ["read", "write"] and me["claims"]["iss"] == as_server.issuer
    assert accounts.status_code == 200 and len(accounts.json()["accounts"]) == 2
    assert payment.status_code == 201
    assert payment.json()["requested_by"] == "rs-client" and payment.json()["to"] == "acc-002"


def test_same_token_over_a_session_with_another_certificate_is_invalid_token(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    with library_client(as_server, pki_files) as client:
        token = client.token().access_token
    response = raw_call(as_server, pki_files, f"{api.url}/hello", token, "other_client")
    assert_invalid_token(response, OTHER_CERTIFICATE)


def test_bound_token_without_a_certificate_is_invalid_token(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    with library_client(as_server, pki_files) as client:
        token = client.token().access_token
    response = raw_call(as_server, pki_files, f"{api.url}/hello", token, stem=None)
    assert_invalid_token(response, NO_CERTIFICATE)


def test_request_without_a_token_gets_a_bare_bearer_challenge(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    response = raw_call(as_server, pki_files, f"{api.url}/hello", None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer realm="{EXAMPLE_REALM}"'


def test_health_is_public(as_server: AsServer, pki_files: PkiFiles, api: Api) -> None:
    response = raw_call(as_server, pki_files, f"{api.url}/health", None, stem=None)
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_payment_that_is_not_a_json_object_is_refused(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    with library_client(as_server, pki_files) as client, client.http() as http:
        response = http.post(f"{api.url}/payments", content=b"[1, 2]")
    assert response.status_code == 400
    assert response.json() == {"message": "the body must be a JSON object"}


# --- tokens the AS would not issue -----------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "description"),
    [
        ("expired", EXPIRED),
        ("wrong_audience", OTHER_AUDIENCE),
        ("wrong_issuer", OTHER_ISSUER),
        ("unknown_kid", UNKNOWN_KID),
    ],
)
def test_bad_token_is_invalid_token_with_the_reason(
    as_server: AsServer, pki_files: PkiFiles, api: Api, case: str, description: str
) -> None:
    token = {
        "expired": lambda: mint(as_server, pki_files, issued_at=time.time() - 3600),
        "wrong_audience": lambda: mint(as_server, pki_files, audience="https://other.example"),
        "wrong_issuer": lambda: mint(as_server, pki_files, issuer="https://other-as.example"),
        "unknown_kid": lambda: mint(as_server, pki_files, signer=LocalSigner.generate("ES256")),
    }[case]()
    response = raw_call(as_server, pki_files, f"{api.url}/hello", token)
    assert_invalid_token(response, description)


def test_minted_token_with_the_as_key_is_accepted(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    """The control for the cases above: only the one altered claim makes them fail."""
    response = raw_call(as_server, pki_files, f"{api.url}/hello", mint(as_server, pki_files))
    assert response.status_code == 200, response.text


def test_missing_scope_is_insufficient_scope_naming_it(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    with library_client(as_server, pki_files, "other_client") as client, client.http() as http:
        read = http.get(f"{api.url}/accounts")
        write = http.post(f"{api.url}/payments", json={"amount": "1"})
    assert read.status_code == 200
    assert write.status_code == 403
    assert write.json()["error"] == "insufficient_scope"
    challenge = write.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer realm="{EXAMPLE_REALM}", error="insufficient_scope"')
    assert challenge.endswith('scope="write"')


# --- the client library recovers --------------------------------------------------------------


def test_client_library_recovers_from_an_expired_token_with_one_retry(
    as_server: AsServer, pki_files: PkiFiles, api: Api
) -> None:
    """The API's clock is an hour ahead for the first request only: the client's cached token
    is expired there; the client gets a fresh token and retries once."""
    seen: list[str] = []

    def skew_first_request(request: httpx.Request) -> None:
        seen.append(request.headers["authorization"])
        api.clock.skew = 3600.0 if len(seen) == 1 else 0.0

    try:
        with (
            library_client(as_server, pki_files) as client,
            client.http(event_hooks={"request": [skew_first_request]}) as http,
        ):
            response = http.get(f"{api.url}/hello")
    finally:
        api.clock.skew = 0.0
    assert response.status_code == 200, response.text
    assert [r.status_code for r in response.history] == [401]
    assert response.history[0].json()["error_description"] == EXPIRED
    assert len(seen) == 2 and seen[0] != seen[1]


# --- `certbound example-api`, the command ----------------------------------------------------


def test_example_api_command_serves_the_protected_api(
    as_server: AsServer, pki_files: PkiFiles, clients: None, tmp_path: Path
) -> None:
    cert, key = pki_files.pair("server")
    args = ["example-api", "--port", "0", "--issuer", as_server.issuer, "--tls-cert", str(cert),
            "--tls-key", str(key), "--trust-anchors", str(pki_files.root), "--ca", str(pki_files.root),
            "--data-dir", str(tmp_path)]  # fmt: skip
    with (
        running_command(args, r"certbound example API — (https://\S+)") as url,
        library_client(as_server, pki_files) as client,
        client.http() as http,
    ):
        response = http.get(f"{url}/whoami")
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == "rs-client"
