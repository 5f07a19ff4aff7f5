"""Issue "AS surface", Registration APIs: over real TLS on 127.0.0.1 with real certificates.

One table of bad client metadata runs against all three registration surfaces — the CLI
(``certbound clients add --metadata -``, through its real entry point), the admin API and RFC 7591
dynamic registration — because they share one validation path: each answers the error that
names the field (CLI: exit 2 and the message; APIs: 400 ``invalid_client_metadata``), and none
stores anything.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asserver import AsServer, run_as_server

from certbound.cli import main
from certbound.core.mtls.certificate import x5t_s256
from certbound.pki.export import export_jwk
from conftest import PkiFiles

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef"
IAT = "e2e-initial-access-token-0123456789"
TLS = {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "c.example"}
SELF = {"token_endpoint_auth_method": "self_signed_tls_client_auth"}


@pytest.fixture(scope="module")
def server(pki_files: PkiFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsServer]:
    secrets = tmp_path_factory.mktemp("registration-secrets")
    (secrets / "admin-token").write_text(ADMIN_TOKEN + "\n")
    (secrets / "initial-access-token").write_text(IAT + "\n")
    overrides = {
        "admin.token_file": secrets / "admin-token",
        "admin.client_subject_dns": ("CN=client-1,O=certbound tests",),
        "registration.initial_access_token_file": secrets / "initial-access-token",
    }
    with run_as_server(
        tmp_path_factory.mktemp("registration-data"),
        server_chain=pki_files.cert("server"),
        server_key=pki_files.key("server"),
        anchors=pki_files.root,
        ca_file=pki_files.root,
        overrides=overrides,
    ) as running:
        yield running


# --- the three surfaces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    error: str
    description: str


def via_cli(server: AsServer, metadata: dict[str, Any]) -> Refusal | None:
    """`certbound clients add --metadata -` through the console script's main(), in-process."""
    argv = ["certbound", "clients", "add", "--metadata", "-",
            "--data-dir", str(server.settings.data_dir),
            "--database-url", server.settings.database_url]  # fmt: skip
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv, sys.stdin
    sys.argv, sys.stdin = argv, io.StringIO(json.dumps(metadata))
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv, sys.stdin = saved
    if code == 0:
        return None
    assert code == 2, err.getvalue()
    message = err.getvalue().strip().removeprefix("error: ")
    error, _, description = message.partition(": ")
    return Refusal(error, description)


def _api_refusal(response: httpx.Response) -> Refusal | None:
    if response.status_code == 201:
        return None
    assert response.status_code == 400, response.text
    body = response.json()
    return Refusal(body["error"], body["error_description"])


def via_admin(server: AsServer, metadata: dict[str, Any]) -> Refusal | None:
    with server.client() as http:
        return _api_refusal(
            http.post(f"{server.issuer}/admin/clients", json=metadata, headers=admin_auth())
        )


def via_dcr(server: AsServer, metadata: dict[str, Any]) -> Refusal | None:
    with server.client() as http:
        return _api_refusal(
            http.post(f"{server.issuer}/register", json=metadata, headers=bearer(IAT))
        )


SURFACES: dict[str, Callable[[AsServer, dict[str, Any]], Refusal | None]] = {
    "cli": via_cli,
    "admin": via_admin,
    "dcr": via_dcr,
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def admin_auth() -> dict[str, str]:
    return bearer(ADMIN_TOKEN)


def client_ids(server: AsServer) -> set[str]:
    with server.client() as http:
        response = http.get(f"{server.issuer}/admin/clients", headers=admin_auth())
    assert response.status_code == 200
    return {c["client_id"] for c in response.json()["clients"]}


# --- one table of bad metadata --------------------------------------------------------------------

Row = tuple[Callable[[Any], dict[str, Any]], str]

BAD_METADATA: dict[str, Row] = {
    "method-required": (lambda pki: {"tls_client_auth_san_dns": "c.example"}, "token_endpoint_auth_method: is required"),
    "method-accepted-here": (lambda pki: {**TLS, "token_endpoint_auth_method": "client_secret_basic"}, "token_endpoint_auth_method: 'client_secret_basic' is not accepted here"),
    "tls-needs-a-subject": (lambda pki: {"token_endpoint_auth_method": "tls_client_auth"}, "token_endpoint_auth_method: tls_client_auth needs one of"),
    "one-subject-field": (lambda pki: {**TLS, "tls_client_auth_subject_dn": "CN=a"}, "tls_client_auth_san_dns: conflicts with tls_client_auth_subject_dn"),
    "subject-dn-parses": (lambda pki: {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "no dn"}, "tls_client_auth_subject_dn: not an RFC 4514"),
    "san-dns": (lambda pki: {**TLS, "tls_client_auth_san_dns": "-bad-.example"}, "tls_client_auth_san_dns: is not a DNS name"),
    "san-ip": (lambda pki: {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_ip": "999.1.1.1"}, "tls_client_auth_san_ip: is not an IPv4 or IPv6 address"),
    "self-signed-needs-keys": (lambda pki: SELF, "jwks: self_signed_tls_client_auth needs jwks or jwks_uri"),
    "no-ca-certificate": (lambda pki: {**SELF, "jwks": {"keys": [export_jwk((pki.self_signed_ca_trap.cert,))]}}, "jwks: keys[0].x5c[0] is a CA certificate (CA:TRUE)"),
    "no-private-key": (lambda pki: {**SELF, "jwks": {"keys": [{**export_jwk((pki.self_signed.cert,)), "d": "AAAA"}]}}, "jwks: keys[0] contains private key material"),
    "jwks-uri-https": (lambda pki: {**SELF, "jwks_uri": "http://c.example/jwks"}, "jwks_uri: must be an absolute https URL"),
    "jwks-uri-not-loopback": (lambda pki: {**SELF, "jwks_uri": "https://127.0.0.1/jwks"}, "jwks_uri: must not point to a loopback"),
    "grant-types-known": (lambda pki: {**TLS, "grant_types": ["implicit"]}, "grant_types: unsupported grant type(s) implicit"),
    "redirect-uris-only-for-code": (lambda pki: {**TLS, "redirect_uris": ["https://app.example/cb"]}, "redirect_uris: only used with the authorization_code grant"),
    "scope-charset": (lambda pki: {**TLS, "scope": 're"ad'}, "scope: scope contains a character outside"),
    "client-name-length": (lambda pki: {**TLS, "client_name": "n" * 201}, "client_name: longer than 200 characters"),
    "bound-tokens": (lambda pki: {**TLS, "tls_client_certificate_bound_access_tokens": False}, "tls_client_certificate_bound_access_tokens: this server issues only certificate-bound"),
    "lifetime": (lambda pki: {**TLS, "access_token_lifetime": 10}, "access_token_lifetime: must be an integer number of seconds"),
    "no-client-secret": (lambda pki: {**TLS, "client_secret": "s3cret"}, "client_secret: certbound issues no client secrets"),
    "no-registration-token": (lambda pki: {**TLS, "registration_access_token": "t"}, "registration_access_token: is set by the server"),
}  # fmt: skip


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize("case", list(BAD_METADATA))
def test_bad_metadata_is_refused_alike_by_every_surface_and_stores_nothing(
    server: AsServer, pki: Any, monkeypatch: pytest.MonkeyPatch, case: str, surface: str
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # one line per CLI message
    make, description = BAD_METADATA[case]
    before = client_ids(server)

    refusal = SURFACES[surface](server, make(pki))

    assert refusal is not None
    assert refusal.error == "invalid_client_metadata"
    assert refusal.description.startswith(description)
    assert client_ids(server) == before


def test_only_the_operators_surfaces_may_grant_introspect_any(
    server: AsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    grant = {**TLS, "certbound_introspect_any": True}
    refused = via_dcr(server, grant)
    assert refused == Refusal(
        "invalid_client_metadata",
        "certbound_introspect_any: is set by the server's operator (admin API or CLI),"
        " not by registration",
    )
    assert via_cli(server, {**grant, "client_id": "rs-cli"}) is None
    assert via_admin(server, {**grant, "client_id": "rs-admin"}) is None
    assert {"rs-cli", "rs-admin"} <= client_ids(server)


# --- RFC 7591 / 7592 over TLS ---------------------------------------------------------------------


def test_discovery_lists_the_registration_endpoint(server: AsServer) -> None:
    with server.client() as http:
        metadata = http.get(f"{server.issuer}/.well-known/oauth-authorization-server").json()
    assert metadata["registration_endpoint"] == f"{server.issuer}/register"


def _token(server: AsServer, files: PkiFiles, stem: str, client_id: str) -> httpx.Response:
    with server.client(*files.pair(stem)) as http:
        return http.post(
            f"{server.mtls}/token",
            data={"grant_type": "client_credentials", "client_id": client_id},
        )


def _wait(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, "the trust store was not synced in 10 s"
        time.sleep(0.1)


def test_a_dynamically_registered_client_gets_tokens_and_manages_its_registration(
    server: AsServer, pki_files: PkiFiles, pki: Any
) -> None:
    metadata = {**SELF, "jwks": {"keys": [export_jwk((pki.self_signed.cert,))]}, "scope": "read"}
    with server.client() as http:
        created = http.post(f"{server.issuer}/register", json=metadata, headers=bearer(IAT))
    assert created.status_code == 201, created.text
    info = created.json()
    client_id, uri = info["client_id"], info["registration_client_uri"]
    assert uri == f"{server.issuer}/register/{client_id}"
    _wait(lambda: pki.self_signed.cert in server.runtime.trust.registered)

    issued = _token(server, pki_files, "self_signed", client_id)
    assert issued.status_code == 200, issued.text
    assert issued.json()["scope"] == "read"

    with server.client() as http:
        token = bearer(info["registration_access_token"])
        read = http.get(uri, headers=token)
        updated = http.put(uri, json={**metadata, "client_id": client_id, "scope": "read write"},
                           headers=token)  # fmt: skip
        stranger = http.get(uri, headers=bearer(IAT))
        deleted = http.delete(uri, headers=token)
        after = http.get(uri, headers=token)
    assert read.status_code == 200 and read.json() == info
    assert updated.status_code == 200 and updated.json()["scope"] == "read write"
    assert stranger.status_code == 401 and "Bearer" in stranger.headers["www-authenticate"]
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert after.status_code == 401
    assert client_id not in client_ids(server)


def test_registration_without_the_initial_access_token_is_401(server: AsServer) -> None:
    with server.client() as http:
        response = http.post(f"{server.issuer}/register", json=TLS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="certbound"'


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b"{", "application/json", 400), (b"{}", "text/plain", 415), (b"[" * 70_000, "application/json", 413)],
    ids=["not-json", "media-type", "too-large"],
)  # fmt: skip
def test_unreadable_bodies_are_4xx_on_both_apis(
    server: AsServer, content: bytes, content_type: str, status: int
) -> None:
    headers = {"Content-Type": content_type}
    with server.client() as http:
        dcr = http.post(
            f"{server.issuer}/register", content=content, headers={**headers, **bearer(IAT)}
        )
        admin = http.post(
            f"{server.issuer}/admin/clients", content=content, headers={**headers, **admin_auth()}
        )
    for response in (dcr, admin):
        assert response.status_code == status
        assert response.json()["error"] == "invalid_request"


# --- the admin API over TLS -----------------------------------------------------------------------


@pytest.mark.parametrize(("stem", "status"), [("client", 200), ("other_client", 401), (None, 401)])
def test_an_admin_certificate_by_subject_dn_is_accepted_over_tls(
    server: AsServer, pki_files: PkiFiles, stem: str | None, status: int
) -> None:
    cert = pki_files.pair(stem) if stem else (None, None)
    with server.client(*cert) as http:
        response = http.get(f"{server.issuer}/admin/clients")
    assert response.status_code == status


def test_a_trust_anchor_added_at_run_time_serves_new_handshakes_until_removed(
    server: AsServer, pki_files: PkiFiles, pki: Any
) -> None:
    with server.client() as http:
        registered = http.post(
            f"{server.issuer}/admin/clients",
            json={"client_id": "foreign", "token_endpoint_auth_method": "tls_client_auth",
                  "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests"},
            headers=admin_auth(),
        )  # fmt: skip
    assert registered.status_code == 201
    with pytest.raises(httpx.TransportError):  # the foreign CA is not trusted yet
        _token(server, pki_files, "foreign_client", "foreign")

    with server.client() as http:
        added = http.post(
            f"{server.issuer}/admin/trust-anchors",
            json={"pem": pki.foreign_root.pem.decode()},
            headers=admin_auth(),
        )
    try:
        assert added.status_code == 201
        issued = _token(server, pki_files, "foreign_client", "foreign")
        assert issued.status_code == 200, issued.text
    finally:
        with server.client() as http:
            removed = http.delete(
                f"{server.issuer}/admin/trust-anchors/{x5t_s256(pki.foreign_root.cert)}",
                headers=admin_auth(),
            )
    assert removed.status_code == 204
    with pytest.raises(httpx.TransportError):
        _token(server, pki_files, "foreign_client", "foreign")
    assert _token(server, pki_files, "client", "foreign").status_code == 200  # same DN, our CA


def test_a_removed_anchor_stops_tokens_on_an_open_connection_despite_the_auth_cache(
    server: AsServer, pki_files: PkiFiles, pki: Any
) -> None:
    """The handshake is over: only the core's re-validation can refuse. The authentication cache
    remembers a success per chain verifier, and removing an anchor replaces the verifier."""
    client_id = "foreign-keepalive"
    with server.client() as http:
        registered = http.post(
            f"{server.issuer}/admin/clients",
            json={"client_id": client_id, "token_endpoint_auth_method": "tls_client_auth",
                  "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests"},
            headers=admin_auth(),
        )  # fmt: skip
        added = http.post(
            f"{server.issuer}/admin/trust-anchors",
            json={"pem": pki.foreign_root.pem.decode()},
            headers=admin_auth(),
        )
    assert (registered.status_code, added.status_code) == (201, 201)
    form = {"grant_type": "client_credentials", "client_id": client_id}
    with server.client(*pki_files.pair("foreign_client")) as kept:
        first = [kept.post(f"{server.mtls}/token", data=form) for _ in range(3)]  # cached after 1
        with server.client() as http:
            removed = http.delete(
                f"{server.issuer}/admin/trust-anchors/{x5t_s256(pki.foreign_root.cert)}",
                headers=admin_auth(),
            )
        assert removed.status_code == 204
        after = kept.post(f"{server.mtls}/token", data=form)
        streams = {id(r.extensions["network_stream"]) for r in [*first, after]}
    assert [r.status_code for r in first] == [200, 200, 200]
    assert len(streams) == 1, "the requests did not share one connection"
    assert after.status_code == 401 and after.json()["error"] == "invalid_client"


def test_admin_openapi_and_config_are_served(server: AsServer) -> None:
    with server.client() as http:
        spec = http.get(f"{server.issuer}/admin/openapi.json", headers=admin_auth())
        config = http.get(f"{server.issuer}/admin/config", headers=admin_auth())
    assert spec.status_code == 200 and spec.json()["openapi"] == "3.1.0"
    assert config.status_code == 200
    assert config.json()["registration"]["initial_access_token_file"].endswith(
        "initial-access-token"
    )
    assert ADMIN_TOKEN not in config.text and IAT not in config.text


def test_the_real_command_refuses_like_the_in_process_one(server: AsServer) -> None:
    import os
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "certbound", "clients", "add", "--metadata", "-", "--data-dir",
         str(server.settings.data_dir), "--database-url", server.settings.database_url],
        input=json.dumps({**TLS, "scope": 're"ad'}), capture_output=True, text=True, timeout=60,
        env={**os.environ, "COLUMNS": "200"}, check=False,
    )  # fmt: skip
    assert out.returncode == 2
    assert "error: invalid_client_metadata: scope: scope contains a character outside" in " ".join(
        out.stderr.split()
    ), out.stderr
