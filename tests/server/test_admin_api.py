"""The admin API through the real Runtime (SQLite, trust, provider) and the real app, in-process.

Certificates reach the app as RFC 9440 headers from a trusted proxy (127.0.0.1), the same
PeerCertificate path as the TLS layer (tests/e2e/test_registration_e2e.py covers real TLS).
Every response status seen here must be documented in the served OpenAPI document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from certbound.certsource import format_rfc9440
from certbound.config.runtime import Runtime, TlsFiles
from certbound.config.settings import ConfigError, Settings, load_settings
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate, x5t_s256
from certbound.core.mtls.verification import CertificateError
from certbound.core.ports import NotFoundInStoreError, StorageError
from certbound.server._admin_anchors import EXTRA_ANCHORS_FILE
from certbound.server._admin_openapi import openapi_document
from certbound.server.admin_api import OPERATIONS, effective_config
from certbound.storage import upgrade
from testpki import NOW, Issued, make_ca

ADMIN_TOKEN = "admin-token-0123456789abcdef"
IAT = "initial-access-token-0123456789"
BASE = "https://localhost:8443"
TLS_CLIENT = {
    "token_endpoint_auth_method": "tls_client_auth",
    "tls_client_auth_san_dns": "c.example",
}
EXPIRED_CA = make_ca(
    "Old CA", not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1)
)


pytestmark = pytest.mark.usefixtures("no_certbound_env")


@dataclass
class Harness:
    runtime: Runtime
    http: httpx.AsyncClient
    doc: dict[str, Any]

    async def call(
        self,
        method: str,
        path: str,
        *,
        peer: Issued | None = None,
        token: str | None = ADMIN_TOKEN,
        **kwargs: Any,
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if peer is not None:
            headers.update(format_rfc9440(PeerCertificate(peer.chain, CertificateSource.TLS)))
        response = await self.http.request(method, path, headers=headers, **kwargs)
        assert_documented(self.doc, method, path, response.status_code)
        return response


def assert_documented(doc: Mapping[str, Any], method: str, path: str, status: int) -> None:
    """The status is one the OpenAPI document lists for this operation (405 is Starlette's)."""
    method = "get" if method == "HEAD" else method.lower()
    for template, item in doc["paths"].items():
        pattern = "^" + re.sub(r"\{[^}]+\}", "[^/]+", template) + "$"
        if re.match(pattern, path) and method in item:
            assert str(status) in item[method]["responses"], (method, path, status)
            return
    assert status in (404, 405), (method, path, status)


@pytest.fixture(scope="module")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file; each test starts from a copy (about 100 ms less per test)."""
    path = tmp_path_factory.mktemp("template") / "certbound.db"
    asyncio.run(upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture(autouse=True)
def fresh_db(tmp_path: Path, migrated_db: Path) -> None:
    (tmp_path / "data").mkdir()
    shutil.copyfile(migrated_db, tmp_path / "data" / "certbound.db")


def _settings(tmp_path: Path, pki: Any, **overrides: Any) -> Settings:
    anchors = tmp_path / "anchors.pem"
    anchors.write_bytes(pki.root.pem)
    token_file = tmp_path / "admin-token"
    token_file.write_text(ADMIN_TOKEN + "\n")
    base = {
        "data_dir": tmp_path / "data",
        "trust.anchors": anchors,
        "trust.trusted_proxies": ("127.0.0.1/32",),
        "admin.token_file": token_file,
        "admin.client_cert_thumbprints": (
            x5t_s256(pki.self_signed.cert),
            x5t_s256(pki.expired.cert),
        ),
        "admin.client_subject_dns": ("CN=client-1,O=certbound tests",),
        "registration.initial_access_token": IAT,
    }
    return load_settings(None, {**base, **overrides})


def _files(tmp_path: Path, pki: Any, settings: Settings) -> TlsFiles:
    chain, key = pki.server.write(tmp_path, "server")
    assert settings.trust.anchors is not None
    return TlsFiles(chain, key, settings.trust.anchors)


@asynccontextmanager
async def running(settings: Settings, files: TlsFiles) -> AsyncIterator[Harness]:
    """The runtime started (as the lifespan would), its app behind an ASGI transport."""
    runtime = Runtime.prepare(settings, files)
    await runtime.start()
    try:
        transport = httpx.ASGITransport(app=runtime.app(), client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            yield Harness(runtime, http, openapi_document(settings.issuer))
    finally:
        await runtime.close()


@pytest.fixture
async def admin(tmp_path: Path, pki: Any) -> AsyncIterator[Harness]:
    settings = _settings(tmp_path, pki)
    async with running(settings, _files(tmp_path, pki, settings)) as harness:
        yield harness


# --- switched off, and authentication ------------------------------------------------------------


async def test_admin_api_is_not_served_without_an_admin_credential(
    tmp_path: Path, pki: Any
) -> None:
    settings = _settings(tmp_path, pki, **{"admin.token_file": None})
    settings = settings.replace(admin=type(settings.admin)())
    async with running(settings, _files(tmp_path, pki, settings)) as harness:
        response = await harness.http.get(
            "/admin/clients", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert response.status_code == 404
    assert response.json()["error"] == "invalid_request"


async def test_no_credentials_get_401_with_a_bearer_challenge_without_error_code(
    admin: Harness,
) -> None:
    response = await admin.call("GET", "/admin/clients", token=None)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="certbound-admin"'
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {ADMIN_TOKEN}x", "Bearer ", f"Basic {ADMIN_TOKEN}", f"Bearer {ADMIN_TOKEN} extra"],
    ids=["wrong", "empty", "basic-scheme", "trailing-junk"],
)
async def test_an_unaccepted_token_gets_401_invalid_token(
    admin: Harness, authorization: str
) -> None:
    response = await admin.call(
        "GET", "/admin/clients", token=None, headers={"Authorization": authorization}
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert ADMIN_TOKEN not in response.text


async def test_the_admin_token_from_its_file_is_accepted(admin: Harness) -> None:
    response = await admin.call("GET", "/admin/clients")
    assert response.status_code == 200
    assert response.json() == {"clients": []}
    assert response.headers["cache-control"] == "no-store"


async def test_the_admin_token_from_the_environment_is_accepted(
    tmp_path: Path, pki: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTBOUND_ADMIN__TOKEN", "env-admin-token-0123456789")
    settings = _settings(tmp_path, pki, **{"admin.token_file": None})
    async with running(settings, _files(tmp_path, pki, settings)) as harness:
        ok = await harness.call("GET", "/admin/clients", token="env-admin-token-0123456789")
        config = await harness.call("GET", "/admin/config", token="env-admin-token-0123456789")
    assert ok.status_code == 200
    assert config.json()["admin"]["token"] == "**********"
    assert "env-admin-token" not in config.text


@pytest.mark.parametrize("stem", ["self_signed", "client"], ids=["pinned-thumbprint", "subject-dn"])
async def test_an_admin_certificate_is_accepted_without_a_token(
    admin: Harness, pki: Any, stem: str
) -> None:
    response = await admin.call("GET", "/admin/clients", token=None, peer=getattr(pki, stem))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "stem",
    ["foreign_client", "other_client", "expired", "self_signed_ca_trap"],
    ids=["admin-dn-but-untrusted-chain", "trusted-chain-other-dn", "pinned-but-expired", "unknown"],
)
async def test_a_certificate_that_is_not_an_admins_gets_401(
    admin: Harness, pki: Any, stem: str
) -> None:
    response = await admin.call("GET", "/admin/clients", token=None, peer=getattr(pki, stem))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_a_wrong_token_is_refused_even_with_an_admin_certificate(
    admin: Harness, pki: Any
) -> None:
    response = await admin.call(
        "GET", "/admin/clients", token="not-the-admin-token", peer=pki.client
    )
    assert response.status_code == 401


async def test_authentication_comes_before_the_body_is_read(admin: Harness) -> None:
    response = await admin.call(
        "POST", "/admin/clients", token=None, content=b"x" * (70 * 1024),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 401


# --- clients ------------------------------------------------------------------------------------


async def test_client_lifecycle_create_read_replace_delete(admin: Harness) -> None:
    created = await admin.call(
        "POST", "/admin/clients", json={"client_id": "billing", **TLS_CLIENT}
    )
    assert created.status_code == 201
    assert created.headers["location"] == f"{BASE}/admin/clients/billing"
    assert created.json()["tls_client_auth_san_dns"] == "c.example"

    listed = await admin.call("GET", "/admin/clients")
    assert [c["client_id"] for c in listed.json()["clients"]] == ["billing"]
    replaced = await admin.call(
        "PUT", "/admin/clients/billing", json={**TLS_CLIENT, "client_name": "Billing", "scope": "a"}
    )
    assert replaced.status_code == 200
    fetched = await admin.call("GET", "/admin/clients/billing")
    assert fetched.json() == replaced.json()
    assert (fetched.json()["client_name"], fetched.json()["scope"]) == ("Billing", "a")

    deleted = await admin.call("DELETE", "/admin/clients/billing")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert (await admin.call("GET", "/admin/clients/billing")).status_code == 404
    assert (await admin.call("GET", "/admin/clients")).json() == {"clients": []}


async def test_a_generated_client_id_when_none_is_given(admin: Harness) -> None:
    created = await admin.call("POST", "/admin/clients", json=TLS_CLIENT)
    assert created.status_code == 201
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", created.json()["client_id"])


async def test_the_admin_may_grant_operator_only_metadata(admin: Harness) -> None:
    body = {"client_id": "rs", **TLS_CLIENT, "certbound_introspect_any": True}
    created = await admin.call("POST", "/admin/clients", json=body)
    assert created.status_code == 201
    assert created.json()["certbound_introspect_any"] is True
    replaced = await admin.call("PUT", "/admin/clients/rs", json={**TLS_CLIENT})
    assert "certbound_introspect_any" not in replaced.json()  # the operator's full replacement


async def test_a_taken_client_id_is_409_and_the_stored_client_is_unchanged(admin: Harness) -> None:
    await admin.call("POST", "/admin/clients", json={"client_id": "dup", **TLS_CLIENT})
    again = await admin.call(
        "POST", "/admin/clients", json={"client_id": "dup", **TLS_CLIENT, "client_name": "new"}
    )
    assert again.status_code == 409
    assert again.json() == {
        "error": "invalid_client_metadata",
        "error_description": "client_id: 'dup' is already registered",
    }
    assert "client_name" not in (await admin.call("GET", "/admin/clients/dup")).json()


@pytest.mark.parametrize(("method", "body"), [("PUT", TLS_CLIENT), ("DELETE", None)])
async def test_an_unknown_client_is_404(admin: Harness, method: str, body: Any) -> None:
    response = await admin.call(method, "/admin/clients/nobody", json=body)
    assert response.status_code == 404


# --- bad input: never a 500 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error", "description"),
    [
        (b'{"a": 1}', "text/plain", 415, "invalid_request", "the request body must be application/json"),
        (b"{not json", "application/json", 400, "invalid_request", "the request body is not valid JSON: Expecting property name"),
        (b"", "application/json", 400, "invalid_request", "the request body is not valid JSON: the body is empty"),
        (b'{"a": 1, "a": 2}', "application/json", 400, "invalid_request", "the request body is not valid JSON: member 'a' appears twice"),
        (b'{"a": NaN}', "application/json", 400, "invalid_request", "the request body is not valid JSON: NaN is not a JSON number"),
        (b'{"a": "\xff"}', "application/json", 400, "invalid_request", "the request body is not valid JSON: it is not UTF-8"),
        (b"[" * 100_000, "application/json", 413, "invalid_request", "request body larger than"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 413, "invalid_request", "request body larger than"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", 400, "invalid_request", "the request body is not valid JSON: it is nested too deeply"),
        (b'["a"]', "application/json", 400, "invalid_client_metadata", "client metadata: must be a JSON object"),
        (b'"text"', "application/json", 400, "invalid_client_metadata", "client metadata: must be a JSON object"),
        (b'{"client_id": 7, "token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "c.example"}',
         "application/json", 400, "invalid_client_metadata", "client_id: "),
    ],
    ids=["media-type", "not-json", "empty", "duplicate-member", "nan", "not-utf8", "too-large",
         "too-large-balanced", "too-deep", "array", "string", "client-id-not-a-string"],
)  # fmt: skip
async def test_bad_client_bodies_are_4xx_json_and_store_nothing(
    admin: Harness, content: bytes, content_type: str, status: int, error: str, description: str
) -> None:
    kept = await admin.call("POST", "/admin/clients", json={"client_id": "kept", **TLS_CLIENT})
    for method, path in (("POST", "/admin/clients"), ("PUT", "/admin/clients/kept")):
        response = await admin.call(
            method, path, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == status, response.text
        assert response.json()["error"] == error
        assert response.json()["error_description"].startswith(description)
    stored = (await admin.call("GET", "/admin/clients")).json()["clients"]
    assert stored == [kept.json()]


async def test_head_answers_like_get_and_other_methods_are_405(admin: Harness) -> None:
    head = await admin.call("HEAD", "/admin/clients")
    assert (head.status_code, head.content) == (200, b"")
    patch = await admin.call("PATCH", "/admin/clients", json={})
    assert patch.status_code == 405
    assert patch.json()["error"] == "invalid_request"


# --- trust anchors --------------------------------------------------------------------------------


def _anchor_sources(body: Mapping[str, Any]) -> dict[str, str]:
    return {a["subject"]: a["source"] for a in body["trust_anchors"]}


async def test_an_added_anchor_is_used_at_once_by_tls_and_the_verifier_and_persisted(
    admin: Harness, pki: Any, tmp_path: Path
) -> None:
    foreign = PeerCertificate(pki.foreign_client.chain, CertificateSource.TLS)
    with pytest.raises(CertificateError):
        admin.runtime.provider().verifier.verify(foreign)

    added = await admin.call(
        "POST", "/admin/trust-anchors", json={"pem": pki.foreign_root.pem.decode()}
    )

    assert added.status_code == 201
    assert [a["x5t#S256"] for a in added.json()["added"]] == [x5t_s256(pki.foreign_root.cert)]
    assert _anchor_sources(added.json()) == {
        "CN=Test Root CA,O=certbound tests": "configured",
        "CN=Foreign Root CA,O=certbound tests": "api",
    }
    admin.runtime.provider().verifier.verify(foreign)  # no CertificateError any more
    assert pki.foreign_root.cert in admin.runtime.trust.snapshot().certificates
    extra = admin.runtime.settings.data_dir / EXTRA_ANCHORS_FILE
    assert extra.read_bytes() == pki.foreign_root.pem
    again = Runtime.prepare(admin.runtime.settings, admin.runtime.files)
    assert pki.foreign_root.cert in again.store.anchors
    assert pki.foreign_root.cert in again.trust.snapshot().certificates


async def test_adding_a_known_anchor_again_is_200_and_changes_nothing(
    admin: Harness, pki: Any
) -> None:
    generation = admin.runtime.trust.generation
    response = await admin.call(
        "POST", "/admin/trust-anchors", content=pki.root.pem,
        headers={"Content-Type": "application/pem-certificate-chain"},
    )  # fmt: skip
    assert response.status_code == 200
    assert response.json()["added"] == []
    assert admin.runtime.trust.generation == generation


async def test_a_removed_anchor_stops_being_trusted(admin: Harness, pki: Any) -> None:
    await admin.call(
        "POST", "/admin/trust-anchors", content=pki.foreign_root.pem,
        headers={"Content-Type": "application/pem-certificate-chain"},
    )  # fmt: skip
    removed = await admin.call("DELETE", f"/admin/trust-anchors/{x5t_s256(pki.foreign_root.cert)}")
    assert removed.status_code == 204
    with pytest.raises(CertificateError):
        admin.runtime.provider().verifier.verify(
            PeerCertificate(pki.foreign_client.chain, CertificateSource.TLS)
        )
    assert pki.foreign_root.cert not in admin.runtime.trust.snapshot().certificates
    listed = await admin.call("GET", "/admin/trust-anchors")
    assert _anchor_sources(listed.json()) == {"CN=Test Root CA,O=certbound tests": "configured"}
    assert (admin.runtime.settings.data_dir / EXTRA_ANCHORS_FILE).read_bytes() == b""


async def test_a_configured_anchor_cannot_be_removed_through_the_api(
    admin: Harness, pki: Any
) -> None:
    response = await admin.call("DELETE", f"/admin/trust-anchors/{x5t_s256(pki.root.cert)}")
    assert response.status_code == 409
    assert "trust.anchors" in response.json()["error_description"]
    assert admin.runtime.provider().verifier.verify(
        PeerCertificate(pki.client.chain, CertificateSource.TLS)
    )


async def test_removing_an_unknown_anchor_is_404(admin: Harness) -> None:
    response = await admin.call("DELETE", "/admin/trust-anchors/" + "A" * 43)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("make_body", "status", "description"),
    [
        (lambda pki: {"json": {"pem": pki.client.pem.decode()}}, 400, "pem: trust anchor 'CN=client-1,O=certbound tests' is not a CA"),
        (lambda pki: {"json": {"pem": EXPIRED_CA.pem.decode()}}, 400, "pem: 'CN=Old CA,O=certbound tests' has expired"),
        (lambda pki: {"json": {"pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}, 400, "pem: no PEM certificate could be read"),
        (lambda pki: {"json": {"pem": "hello"}}, 400, "pem: no PEM certificate could be read"),
        (lambda pki: {"json": {"certificate": "x"}}, 400, "pem: the body must be a JSON object"),
        (lambda pki: {"json": ["x"]}, 400, "pem: the body must be a JSON object"),
        (lambda pki: {"content": b"{", "headers": {"Content-Type": "application/json"}}, 400, "the request body is not valid JSON"),
        (lambda pki: {"content": pki.root.pem, "headers": {"Content-Type": "text/plain"}}, 415, "send application/json"),
        (lambda pki: {"content": pki.root.pem * 200, "headers": {"Content-Type": "application/pem-certificate-chain"}}, 413, "request body larger than"),
    ],
    ids=["leaf-not-ca", "expired-ca", "bad-der", "no-pem", "no-pem-member", "not-an-object",
         "not-json", "media-type", "too-large"],
)  # fmt: skip
async def test_unusable_anchors_are_refused_and_change_nothing(
    admin: Harness, pki: Any, make_body: Any, status: int, description: str
) -> None:
    generation = admin.runtime.trust.generation
    response = await admin.call("POST", "/admin/trust-anchors", **make_body(pki))
    assert response.status_code == status, response.text
    assert response.json()["error_description"].startswith(description)
    assert admin.runtime.trust.generation == generation
    assert not (admin.runtime.settings.data_dir / EXTRA_ANCHORS_FILE).exists()


async def test_an_unreadable_anchors_extra_file_stops_start_up(tmp_path: Path, pki: Any) -> None:
    settings = _settings(tmp_path, pki)
    extra = settings.data_dir / EXTRA_ANCHORS_FILE
    extra.parent.mkdir(parents=True)
    extra.write_bytes(pki.client.pem)  # a leaf is no anchor
    with pytest.raises(
        ConfigError, match=r"trust anchors added through the admin API: .*is not a CA"
    ):
        Runtime.prepare(settings, _files(tmp_path, pki, settings))


# --- configuration and the OpenAPI document -------------------------------------------------------


async def test_the_effective_configuration_redacts_secrets(admin: Harness) -> None:
    response = await admin.call("GET", "/admin/config")
    body = response.json()
    assert response.status_code == 200
    assert body["registration"]["initial_access_token"] == "**********"
    assert body["admin"]["token"] is None and body["admin"]["token_file"].endswith("admin-token")
    assert body["effective"]["issuer"] == BASE
    assert IAT not in response.text and ADMIN_TOKEN not in response.text


def test_the_database_password_is_hidden_in_the_effective_configuration(tmp_path: Path) -> None:
    settings = load_settings(None, {"storage.database_url": "postgresql://u:s3cret@db/cb"})
    config = effective_config(settings)
    assert config["storage"]["database_url"] == "postgresql://u:***@db/cb"
    assert config["effective"]["database_url"] == "postgresql://u:***@db/cb"


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if "$ref" in node else [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


async def test_the_openapi_document_describes_exactly_the_routes(admin: Harness) -> None:
    served = (await admin.call("GET", "/admin/openapi.json")).json()
    assert served == openapi_document(BASE)
    assert served["openapi"] == "3.1.0"
    documented = {
        (path, method.upper())
        for path, item in served["paths"].items()
        for method in item
        if method != "parameters"
    }
    assert documented == {(path, method) for path, method, _ in OPERATIONS}
    routed = {
        (route.path, method)  # type: ignore[attr-defined]
        for route in admin.runtime.app().routes
        if route.path.startswith("/admin/")  # type: ignore[attr-defined]
        for method in route.methods - {"HEAD"}  # type: ignore[attr-defined]
    }
    assert routed == documented
    for ref in _refs(served):
        assert ref.removeprefix("#/components/schemas/") in served["components"]["schemas"]
    for path, method in documented:
        assert "401" in served["paths"][path][method.lower()]["responses"]


async def test_the_openapi_document_needs_admin_credentials(admin: Harness) -> None:
    assert (await admin.call("GET", "/admin/openapi.json", token=None)).status_code == 401


# --- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"admin.token": "short"}, "admin.token: the token must be at least 16 characters"),
        ({"admin.token": "has spaces in the admin token"}, "admin.token: the token may only use"),
        ({"admin.token_file": Path("/nonexistent/token")}, "admin.token_file: cannot read"),
        ({"registration.initial_access_token": "tiny"}, "registration.initial_access_token: the token must be"),
    ],
    ids=["short", "not-a-token", "missing-file", "short-initial-token"],
)  # fmt: skip
def test_bad_secrets_stop_start_up(
    tmp_path: Path, pki: Any, overrides: dict[str, Any], message: str
) -> None:
    settings = _settings(tmp_path, pki, **{"admin.token_file": None, **overrides})
    with pytest.raises(ConfigError, match=re.escape(message)):
        Runtime.prepare(settings, _files(tmp_path, pki, settings))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"admin.token": ADMIN_TOKEN}, "admin: set token or token_file, not both"),
        ({"admin.client_cert_thumbprints": ("abc",)}, "admin.client_cert_thumbprints: not an x5t#S256"),
        ({"admin.client_subject_dns": ("not a dn",)}, "admin.client_subject_dns: 'not a dn'"),
        ({"registration.open": True}, "registration: open registration takes no initial access token"),
    ],
    ids=["token-twice", "thumbprint", "subject-dn", "open-with-token"],
)  # fmt: skip
def test_bad_admin_and_registration_settings_are_refused(
    tmp_path: Path, pki: Any, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _settings(tmp_path, pki, **overrides)


async def test_every_admin_request_is_audited_without_secrets(admin: Harness) -> None:
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        await admin.call("POST", "/admin/clients", json={"client_id": "a", **TLS_CLIENT})
        await admin.call("GET", "/admin/clients", token="wrong-token-0123456789")
    requests = [e for e in logs if e["event"] == "admin_request"]
    assert [(e["status"], e["principal"], e["log_level"]) for e in requests] == [
        (201, "token", "info"),
        (401, None, "warning"),
    ]
    assert requests[1]["detail"] == "admin bearer token not accepted"
    changes = [e for e in logs if e["event"] == "client_registration_changed"]
    assert [(e["action"], e["client_id"], e["via"]) for e in changes] == [
        ("registered", "a", "admin")
    ]
    assert ADMIN_TOKEN not in repr(logs) and "wrong-token" not in repr(logs)


@pytest.mark.parametrize(
    ("failure", "status", "error"),
    [
        (StorageError("database is locked"), 503, "temporarily_unavailable"),
        (RuntimeError("a bug"), 500, "server_error"),
    ],
)
async def test_store_failures_are_503_and_bugs_a_generic_500(
    admin: Harness, monkeypatch: pytest.MonkeyPatch, failure: Exception, status: int, error: str
) -> None:
    async def broken() -> list[Any]:
        raise failure

    stores = admin.runtime._stores
    assert stores is not None
    monkeypatch.setattr(stores.clients, "list", broken)
    response = await admin.call("GET", "/admin/clients")
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert "a bug" not in response.text and "locked" not in response.text


async def test_a_client_removed_during_an_update_is_404(
    admin: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await admin.call("POST", "/admin/clients", json={"client_id": "gone", **TLS_CLIENT})

    async def removed(client: Any) -> None:
        raise NotFoundInStoreError("no client 'gone' to update")

    stores = admin.runtime._stores
    assert stores is not None
    monkeypatch.setattr(stores.clients, "update", removed)
    response = await admin.call("PUT", "/admin/clients/gone", json=TLS_CLIENT)
    assert response.status_code == 404
