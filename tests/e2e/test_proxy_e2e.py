"""Issue "Authorization server surface", "Behind a TLS-terminating proxy": forged certificate
headers, the settings of a proxied deployment, and the documented proxy configurations.

The core issue's checks through nginx and HAProxy are in test_as_token_e2e.py (``as_server_via``).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asserver import AsServer
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from joserfc import jwt
from joserfc.jwk import KeySet
from nginx import DEPLOY, PROXIES
from structlog.testing import capture_logs

from certbound.certsource._forwarded import HEADER_SOURCES, header_names
from certbound.certsource.middleware import UNTRUSTED_PEER
from certbound.certsource.nginx import NGINX_HEADER
from certbound.config.compose import load_intermediates
from certbound.config.runtime import Runtime, TlsFiles
from certbound.config.settings import ConfigError, load_settings
from conftest import PkiFiles, start_as_server

pytestmark = pytest.mark.e2e


def thumbprint(cert: x509.Certificate) -> str:
    digest = hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def forged_headers(form: str, leaf: x509.Certificate, issuer: x509.Certificate) -> dict[str, str]:
    """Certificate headers claiming ``leaf``, in each form certbound can read."""
    der = base64.b64encode(leaf.public_bytes(Encoding.DER)).decode()
    pem = quote(leaf.public_bytes(Encoding.PEM).decode(), safe="")
    chain = base64.b64encode(issuer.public_bytes(Encoding.DER)).decode()
    return {
        "rfc9440": {"Client-Cert": f":{der}:"},
        "rfc9440-chain": {"Client-Cert": f":{der}:", "Client-Cert-Chain": f":{chain}:"},
        "nginx": {NGINX_HEADER: pem},
        "nginx-upper-case": {NGINX_HEADER.upper(): pem},
        "xfcc": {"X-Forwarded-Client-Cert": f'Cert="{pem}"'},
    }[form]


FORMS = ("rfc9440", "rfc9440-chain", "nginx", "nginx-upper-case", "xfcc")


def post_token(
    server: AsServer, url: str, files: PkiFiles, stem: str | None, client_id: str, headers: Any
) -> tuple[httpx.Response, list[dict[str, Any]]]:
    cert, key = files.pair(stem) if stem else (None, None)
    with capture_logs() as logs, server.client(cert, key) as http:
        response = http.post(
            f"{url}/token",
            data={"grant_type": "client_credentials", "client_id": client_id},
            headers=headers,
        )
    return response, logs


def auth_failures(logs: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["client_id"], e["reason"]) for e in logs if e["event"] == "client_auth_failed"]


# -- (a) a client talking to certbound directly ---------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("listener", ["issuer", "mtls"])
def test_certificate_header_sent_directly_is_refused_and_logged(
    as_server: AsServer, pki_files: PkiFiles, pki, form: str, listener: str
) -> None:
    """No trusted proxies configured: a header is an attack, even with a real certificate."""
    url, stem = (as_server.issuer, None) if listener == "issuer" else (as_server.mtls, "client")
    headers = forged_headers(form, pki.other_client.cert, pki.intermediate.cert)
    response, logs = post_token(as_server, url, pki_files, stem, "dn-client", headers)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": UNTRUSTED_PEER}
    [line] = [e for e in logs if e["event"] == "cert_header_from_untrusted_peer"]
    assert line["peer"] == "127.0.0.1"
    assert line["headers"] == sorted(h.lower() for h in headers)
    assert line["log_level"] == "warning"


# -- (b), (c) through the real proxies ------------------------------------------------------


@pytest.fixture(scope="module", params=PROXIES)
def proxied(
    request: pytest.FixtureRequest,
    pki_files: PkiFiles,
    shared_as_data: Path,
    registered_clients: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsServer]:
    workdir = tmp_path_factory.mktemp(f"forged-{request.param}")
    with start_as_server(request.param, pki_files, shared_as_data, workdir) as server:
        yield server


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("host", ["issuer", "mtls"])
def test_forged_header_never_replaces_the_presented_certificate(
    proxied: AsServer, pki_files: PkiFiles, pki, form: str, host: str
) -> None:
    """Cert A presented, a header claims B (client-2): the token is bound to A, never B."""
    url = proxied.issuer if host == "issuer" else proxied.mtls
    headers = forged_headers(form, pki.other_client.cert, pki.intermediate.cert)
    own, _ = post_token(proxied, url, pki_files, "client", "dn-client", headers)
    assert own.status_code == 200, own.text
    claims = jwt.decode(
        own.json()["access_token"], KeySet.import_key_set(proxied.runtime.keys.jwks())
    ).claims
    assert claims["cnf"] == {"x5t#S256": thumbprint(pki.client.cert)}
    theirs, logs = post_token(proxied, url, pki_files, "client", "san-client", headers)
    assert (theirs.status_code, theirs.json()["error"]) == (401, "invalid_client")
    assert auth_failures(logs) == [("san-client", "subject_mismatch")]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("host", ["issuer", "mtls"])
def test_forged_header_without_a_certificate_is_refused(
    proxied: AsServer, pki_files: PkiFiles, pki, form: str, host: str
) -> None:
    """No certificate, a header claims B: B's client is refused, as if no header was sent."""
    url = proxied.issuer if host == "issuer" else proxied.mtls
    headers = forged_headers(form, pki.other_client.cert, pki.intermediate.cert)
    response, logs = post_token(proxied, url, pki_files, None, "san-client", headers)
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert auth_failures(logs) == [("san-client", "no_certificate")]


# -- settings of a proxied deployment -------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_only(
    pki_files: PkiFiles,
    shared_as_data: Path,
    registered_clients: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsServer]:
    """certbound trusting 127.0.0.1 (the test plays the proxy), nginx header only, and no
    trust.intermediates."""
    overrides = {"trust.trusted_proxies": ["127.0.0.1/32"], "trust.header_sources": ["nginx"]}
    workdir = tmp_path_factory.mktemp("unused")
    with start_as_server("tls", pki_files, shared_as_data, workdir, overrides) as server:
        yield server


def test_header_sources_setting_ignores_other_headers_of_a_trusted_proxy(
    nginx_only: AsServer, pki_files: PkiFiles, pki
) -> None:
    headers = forged_headers("rfc9440-chain", pki.client.cert, pki.intermediate.cert)
    response, logs = post_token(
        nginx_only, nginx_only.issuer, pki_files, None, "dn-client", headers
    )
    assert response.status_code == 401
    assert auth_failures(logs) == [("dn-client", "no_certificate")]


def test_leaf_only_header_without_trust_intermediates_is_chain_incomplete(
    nginx_only: AsServer, pki_files: PkiFiles, pki
) -> None:
    """What nginx forwards is the leaf alone: trust.intermediates completes it (proxy modes)."""
    headers = forged_headers("nginx", pki.client.cert, pki.intermediate.cert)
    response, logs = post_token(
        nginx_only, nginx_only.issuer, pki_files, None, "dn-client", headers
    )
    assert response.status_code == 401
    assert auth_failures(logs) == [("dn-client", "chain_incomplete")]


def test_trust_intermediates_are_loaded_and_never_anchors(pki_files: PkiFiles, pki) -> None:
    assert load_intermediates(None) == ()
    assert load_intermediates(pki_files.intermediate) == (pki.intermediate.cert,)


@pytest.mark.parametrize(
    ("stem", "message"),
    [
        ("root", "is self-signed; trust anchors belong in trust.anchors"),
        ("client", "is not a CA"),
        ("client.key", "no PEM certificates"),
        ("missing", "cannot read"),
    ],
)
def test_bad_trust_intermediates_stop_start_up(
    pki_files: PkiFiles, tmp_path: Path, stem: str, message: str
) -> None:
    path = {"root": pki_files.root, "client": pki_files.cert("client"),
            "client.key": pki_files.key("client"), "missing": tmp_path / "none.pem"}[stem]  # fmt: skip
    settings = load_settings(None, {"data_dir": tmp_path, "trust.intermediates": path})
    files = TlsFiles(pki_files.cert("server"), pki_files.key("server"), pki_files.root)
    with pytest.raises(ConfigError, match=r"trust\.intermediates") as info:
        Runtime.prepare(settings, files)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("trust.header_sources", ["rfc9440", "haproxy"], "unknown source(s) haproxy"),
        ("trust.header_sources", ["nginx", "nginx"], "names a source twice"),
        ("trust.header_sources", [], "at least one source is required"),
        ("trust.nginx_header", "ssl client cert", "must be an HTTP header name"),
    ],
)
def test_bad_header_settings_are_config_errors(
    tmp_path: Path, key: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)) as info:
        load_settings(None, {"data_dir": tmp_path, key: value})
    assert message in str(info.value)


def test_nginx_header_other_than_the_default_is_refused_until_supported(
    pki_files: PkiFiles, tmp_path: Path
) -> None:
    settings = load_settings(None, {"data_dir": tmp_path, "trust.nginx_header": "X-SSL-Cert"})
    assert settings.trust.nginx_header == "x-ssl-cert"
    files = TlsFiles(pki_files.cert("server"), pki_files.key("server"), pki_files.root)
    with pytest.raises(ConfigError, match=r"trust\.nginx_header"):
        Runtime.prepare(settings, files).app()


# -- the documented configurations ----------------------------------------------------------


def read_headers() -> set[str]:
    """Every header name certbound reads a certificate from (default nginx header)."""
    return {name for source in HEADER_SOURCES for name in header_names(source, NGINX_HEADER)}


def test_documented_nginx_sets_every_certificate_header_in_every_server_block() -> None:
    text = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    blocks = re.split(r"^server \{", text, flags=re.M)[1:]
    assert len(blocks) == 2
    expected = dict.fromkeys(read_headers(), '""') | {NGINX_HEADER: "$ssl_client_escaped_cert"}
    for block in blocks:
        found = re.findall(r"^\s*proxy_set_header\s+(\S+)\s+(.+);", block, re.M)
        assert {n.lower(): v for n, v in found if n.lower() in expected} == expected
        assert re.search(r"^\s*ssl_verify_client optional_no_ca;", block, re.M)


def test_documented_haproxy_deletes_every_certificate_header_then_sets_client_cert() -> None:
    text = (DEPLOY / "haproxy.cfg").read_text(encoding="utf-8")
    deleted = re.findall(r"^\s*http-request del-header (\S+)$", text, re.M)
    assert sorted(n.lower() for n in deleted) == sorted(read_headers())
    setter = "http-request set-header Client-Cert :%[ssl_c_der,base64]: if { ssl_c_used }"
    assert text.index(setter) > max(text.index(f"del-header {n}") for n in deleted)
    assert (DEPLOY / "README.md").read_text(encoding="utf-8").count(setter) >= 1
