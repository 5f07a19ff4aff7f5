"""Issue "AS core", Done-when lines: each over real TLS with real certificates on 127.0.0.1.

Every check runs once per front (``as_server_via``, see conftest): the certificate from the TLS
layer, and from a real nginx / HAProxy in front (issue "Authorization server surface", "Behind
a TLS-terminating proxy"). A proxy accepts any certificate (certbound decides), so where the
mTLS listener refuses the handshake, through a proxy certbound answers ``invalid_client``:
:func:`assert_refused` checks each front's mechanism, and the audited reason.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from asserver import AsServer
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt
from joserfc.jwk import KeySet
from structlog.testing import capture_logs

from conftest import PkiFiles, certbound_cli, register_client

pytestmark = pytest.mark.e2e

NGINX_REFUSES = frozenset({"expired", "not_yet_valid", "wrong_eku"})  # nginx's own 495


def register(server: AsServer, metadata: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """Register through the real CLI, against the server's database (another process)."""
    return register_client(server.settings.data_dir, metadata)


def token(server: AsServer, files: PkiFiles, stem: str | None, client_id: str) -> httpx.Response:
    cert, key = files.pair(stem) if stem else (None, None)
    with server.client(cert, key) as http:
        return http.post(
            f"{server.mtls}/token",
            data={"grant_type": "client_credentials", "client_id": client_id},
        )


def assert_refused(
    server: AsServer, files: PkiFiles, stem: str | None, client_id: str, reason: str
) -> None:
    """A token request with ``stem``'s certificate is refused by the front's mechanism.

    Directly: the mTLS listener ends the handshake. Through a proxy: certbound answers 401
    ``invalid_client`` and audits exactly one ``client_auth_failed`` with ``reason`` -- but
    nginx's ``optional_no_ca`` waives only unknown-issuer errors, so nginx itself answers an
    expired certificate (400 ``invalid_request`` in JSON, from the documented ``error_page``).
    """
    outcome: httpx.Response | httpx.TransportError
    with capture_logs() as logs:
        try:
            outcome = token(server, files, stem, client_id)
        except httpx.TransportError as exc:
            outcome = exc
    if server.front == "tls":
        assert isinstance(outcome, httpx.TransportError), f"handshake accepted: {outcome}"
        assert not isinstance(outcome, httpx.TimeoutException)
        return
    assert isinstance(outcome, httpx.Response), f"{server.front} must forward: {outcome!r}"
    failures = [(e["client_id"], e["reason"]) for e in logs if e["event"] == "client_auth_failed"]
    if server.front == "nginx" and reason in NGINX_REFUSES:  # docs/deploy/nginx.conf error_page
        assert (outcome.status_code, outcome.json()["error"]) == (400, "invalid_request")
        assert outcome.headers["cache-control"] == "no-store" and failures == []
        return
    assert outcome.status_code == 401, outcome.text
    assert outcome.json()["error"] == "invalid_client"
    assert failures == [(client_id, reason)]


def openssl_thumbprint(cert: Path) -> str:
    der = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-outform", "DER"], capture_output=True, check=True
    ).stdout
    digest = subprocess.run(
        ["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True
    ).stdout
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def registered(as_server_via: AsServer, registered_clients: dict[str, str], pki) -> dict[str, str]:
    """The conftest's clients, once this server's TLS trust holds the self-signed one."""
    deadline = time.monotonic() + 10  # the trust sync picks the self-signed cert up
    while time.monotonic() < deadline:
        if pki.self_signed.cert in as_server_via.runtime.trust.registered:
            break
        time.sleep(0.1)
    return registered_clients


@pytest.mark.parametrize(
    ("stem", "reason"),
    [(None, "no_certificate"), ("foreign_client", "chain_incomplete"), ("expired", "expired")],
    ids=["no-cert", "untrusted", "expired"],
)
def test_mtls_alias_refuses_missing_untrusted_and_expired_certificates(
    as_server_via: AsServer,
    pki_files: PkiFiles,
    registered: dict[str, str],
    stem: str | None,
    reason: str,
) -> None:
    assert_refused(as_server_via, pki_files, stem, "dn-client", reason)


def test_right_certificate_gets_a_bound_token_signed_by_a_served_key(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str]
) -> None:
    response = token(as_server_via, pki_files, "client", "dn-client")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "read write"
    with as_server_via.client() as http:
        metadata = http.get(f"{as_server_via.issuer}/.well-known/oauth-authorization-server").json()
        jwks = http.get(metadata["jwks_uri"]).json()
    decoded = jwt.decode(body["access_token"], KeySet.import_key_set(jwks), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt"
    assert decoded.claims["cnf"] == {"x5t#S256": openssl_thumbprint(pki_files.cert("client"))}
    assert (
        decoded.claims["client_id"] == "dn-client" and decoded.claims["iss"] == as_server_via.issuer
    )
    assert metadata["mtls_endpoint_aliases"]["token_endpoint"] == f"{as_server_via.mtls}/token"
    assert metadata["tls_client_certificate_bound_access_tokens"] is True


def test_san_dns_client_gets_a_token(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str]
) -> None:
    response = token(as_server_via, pki_files, "other_client", "san-client")
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "stem",
    ["other_client", "dn_superset", "same_cn"],
    ids=["another-clients-cert", "dn-contains-registered", "cn-only"],
)
def test_trusted_certificate_of_the_wrong_subject_is_invalid_client(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str], stem: str
) -> None:
    response = token(as_server_via, pki_files, stem, "dn-client")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_registered_self_signed_certificate_works(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str], pki
) -> None:
    response = token(as_server_via, pki_files, "self_signed", "self-client")
    assert response.status_code == 200, response.text
    claims = jwt.decode(
        response.json()["access_token"], KeySet.import_key_set(as_server_via.runtime.keys.jwks())
    ).claims
    assert claims["cnf"]["x5t#S256"] == openssl_thumbprint(pki_files.cert("self_signed"))


def test_other_self_signed_certificate_with_the_same_subject_is_refused(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str]
) -> None:
    reason = "certificate_not_registered"
    assert_refused(as_server_via, pki_files, "self_signed_twin", "self-client", reason)


def test_ca_issued_certificate_not_in_the_jwks_is_invalid_client(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str]
) -> None:
    response = token(as_server_via, pki_files, "client", "self-client")
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_ca_true_self_signed_certificate_is_refused_at_registration(
    as_server_via: AsServer, pki
) -> None:
    from certbound.pki.export import export_jwk

    out = register(as_server_via, {"client_id": "trap", "token_endpoint_auth_method": "self_signed_tls_client_auth",
                               "jwks": {"keys": [export_jwk((pki.self_signed_ca_trap.cert,))]}})  # fmt: skip
    assert out.returncode == 2
    assert "invalid_client_metadata" in out.stderr and "CA" in out.stderr
    listed = certbound_cli("clients", "list", "--json", "--data-dir", str(as_server_via.settings.data_dir),
                           "--database-url", as_server_via.settings.database_url)  # fmt: skip
    assert "trap" not in {c["client_id"] for c in json.loads(listed.stdout)}


def test_client_registered_while_running_authenticates_without_restart(
    as_server_via: AsServer, pki_files: PkiFiles, pki, tmp_path: Path
) -> None:
    from testpki import make_leaf

    leaf = make_leaf(None, "late-self-signed")
    cert, key = leaf.write(tmp_path, "late")
    from certbound.pki.export import export_jwk

    client_id = f"late-client-{as_server_via.front}"  # one database for every front
    assert token(as_server_via, pki_files, "client", client_id).status_code == 401  # unknown client
    out = register(as_server_via, {"client_id": client_id, "token_endpoint_auth_method": "self_signed_tls_client_auth",
                               "jwks": {"keys": [export_jwk((leaf.cert,))]}})  # fmt: skip
    assert out.returncode == 0, out.stderr
    deadline, response = time.monotonic() + 10, None
    while time.monotonic() < deadline:
        try:
            with as_server_via.client(cert, key) as http:
                response = http.post(
                    f"{as_server_via.mtls}/token",
                    data={"grant_type": "client_credentials", "client_id": client_id},
                )
            if response.status_code == 200:
                break
        except httpx.TransportError:
            pass  # not yet in the TLS trust store
        time.sleep(0.2)
    assert response is not None and response.status_code == 200


def test_a_client_changed_by_another_process_is_refused_within_a_second(
    as_server: AsServer, pki_files: PkiFiles
) -> None:
    """The token path caches client lookups and chain validations per process; a change made by
    the CLI (another process) reaches it through the store's revision within a second."""
    client_id = "cached-then-changed"
    out = register(as_server, {"client_id": client_id, "token_endpoint_auth_method": "tls_client_auth",
                               "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests"})  # fmt: skip
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 10
    while token(as_server, pki_files, "client", client_id).status_code != 200:
        assert time.monotonic() < deadline, "a client registered by the CLI never got a token"
        time.sleep(0.1)
    for _ in range(3):  # answered from the cache now
        assert token(as_server, pki_files, "client", client_id).status_code == 200

    def refused_within(seconds: float) -> float:
        start = time.monotonic()
        while (response := token(as_server, pki_files, "client", client_id)).status_code == 200:
            assert time.monotonic() - start < seconds, "the cached answer outlived the change"
            time.sleep(0.05)
        assert response.status_code == 401 and response.json()["error"] == "invalid_client"
        return time.monotonic() - start

    db = (
        "--data-dir",
        str(as_server.settings.data_dir),
        "--database-url",
        as_server.settings.database_url,
    )
    out = certbound_cli("clients", "update", client_id, "--metadata", "-", *db, input=json.dumps(
        {"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=client-2"}))  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert refused_within(3) < 2  # the revision is re-read at most a second apart
    out = certbound_cli("clients", "remove", client_id, *db)
    assert out.returncode == 0, out.stderr
    assert token(as_server, pki_files, "client", client_id).status_code == 401


def test_curl_obtains_a_token_as_the_readme_shows(
    as_server_via: AsServer, pki_files: PkiFiles, registered: dict[str, str]
) -> None:
    out = subprocess.run(
        ["curl", "-sS", "--cacert", str(pki_files.root), "--cert", str(pki_files.cert("client")),
         "--key", str(pki_files.key("client")), "-d", "grant_type=client_credentials", "-d", "client_id=dn-client",
         f"{as_server_via.mtls}/token"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["token_type"] == "Bearer"


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        (
            {
                "data": {
                    "grant_type": "client_credentials",
                    "client_id": "dn-client",
                    "scope": "admin",
                }
            },
            400,
            "invalid_scope",
        ),
        ({"data": {"client_id": "dn-client"}}, 400, "invalid_request"),
        (
            {"data": {"grant_type": "password", "client_id": "dn-client"}},
            400,
            "unsupported_grant_type",
        ),
        (
            {
                "content": b"grant_type=client_credentials&grant_type=client_credentials&client_id=dn-client",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {
                "content": b"grant_type=%zz&client_id=dn-client",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {
                "content": b"grant_type=client_credentials&client_id=\xff",
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        ({"json": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
        (
            {
                "content": b"a=" + b"x" * 70000,
                "headers": {"content-type": "application/x-www-form-urlencoded"},
            },
            413,
            "invalid_request",
        ),
    ],
    ids=[
        "bad-scope",
        "no-grant",
        "unknown-grant",
        "repeated",
        "bad-percent",
        "bad-utf8",
        "json-body",
        "too-large",
    ],
)
def test_bad_token_requests_get_oauth_errors_over_real_tls(
    as_server_via: AsServer,
    pki_files: PkiFiles,
    registered: dict[str, str],
    kwargs: dict[str, Any],
    status: int,
    error: str,
) -> None:
    with as_server_via.client(*pki_files.pair("client")) as http:
        response = http.post(f"{as_server_via.mtls}/token", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error


def test_get_on_token_endpoint_is_405_in_oauth_json(
    as_server_via: AsServer, pki_files: PkiFiles
) -> None:
    with as_server_via.client(*pki_files.pair("client")) as http:
        response = http.get(f"{as_server_via.mtls}/token")
        missing = http.get(f"{as_server_via.mtls}/nope")
    assert response.status_code == 405 and response.json()["error"] == "invalid_request"
    assert missing.status_code == 404 and missing.json()["error"] == "invalid_request"


def test_server_certificate_is_what_clients_verify(as_server_via: AsServer, pki) -> None:
    with as_server_via.client() as http:
        assert http.get(f"{as_server_via.issuer}/healthz").text == "ok"
    assert (
        pki.server.cert.public_bytes(Encoding.PEM) in as_server_via.files.server_chain.read_bytes()
    )
