"""RFC 7662 introspection and RFC 7009 revocation over real mutual TLS (issue "AS surface")."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from asserver import AsServer
from joserfc import jwt
from joserfc.jwk import KeySet

from conftest import PkiFiles, certbound_cli

pytestmark = pytest.mark.e2e


def add_client(server: AsServer, metadata: dict[str, Any]) -> None:
    out = certbound_cli(
        "clients", "add", "--metadata", "-", "--data-dir", str(server.settings.data_dir),
        "--database-url", server.settings.database_url, input=json.dumps(metadata),
    )  # fmt: skip
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def clients(as_server: AsServer) -> None:
    add_client(
        as_server,
        {
            "client_id": "app",
            "token_endpoint_auth_method": "tls_client_auth",
            "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests",
            "scope": "read",
        },
    )
    add_client(as_server, {"client_id": "api", "token_endpoint_auth_method": "tls_client_auth",
                           "tls_client_auth_san_dns": "client-2.example.com", "certbound_introspect_any": True})  # fmt: skip


def post(
    server: AsServer, files: PkiFiles, stem: str | None, path: str, data: dict[str, str], **kw: Any
) -> httpx.Response:
    cert, key = files.pair(stem) if stem else (None, None)
    base = server.mtls if stem else server.issuer
    with server.client(cert, key) as http:
        return http.post(f"{base}{path}", data=data, **kw)


def new_token(server: AsServer, files: PkiFiles) -> str:
    response = post(
        server, files, "client", "/token", {"grant_type": "client_credentials", "client_id": "app"}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_discovery_lists_both_endpoints_and_their_mtls_aliases(as_server: AsServer) -> None:
    with as_server.client() as http:
        meta = http.get(f"{as_server.issuer}/.well-known/oauth-authorization-server").json()
    assert meta["introspection_endpoint"] == f"{as_server.issuer}/introspect"
    assert meta["revocation_endpoint"] == f"{as_server.issuer}/revoke"
    aliases = meta["mtls_endpoint_aliases"]
    assert aliases["introspection_endpoint"] == f"{as_server.mtls}/introspect"
    assert aliases["revocation_endpoint"] == f"{as_server.mtls}/revoke"


def test_resource_server_introspects_an_active_bound_token(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    token = new_token(as_server, pki_files)
    response = post(
        as_server, pki_files, "other_client", "/introspect", {"token": token, "client_id": "api"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == "app"
    assert body["scope"] == "read"
    assert body["token_type"] == "Bearer"
    assert body["iss"] == as_server.issuer
    assert set(body) >= {"exp", "iat", "sub", "aud", "cnf"}
    assert body["cnf"]["x5t#S256"]


def test_introspection_without_client_authentication_discloses_nothing(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    token = new_token(as_server, pki_files)
    response = post(as_server, pki_files, None, "/introspect", {"token": token, "client_id": "api"})
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }
    assert "active" not in response.text


def test_missing_token_is_invalid_request(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    response = post(as_server, pki_files, "other_client", "/introspect", {"client_id": "api"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_revoked_token_is_reported_inactive(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    token = new_token(as_server, pki_files)
    revoked = post(as_server, pki_files, "client", "/revoke", {"token": token, "client_id": "app"})
    assert revoked.status_code == 200
    again = post(
        as_server, pki_files, "client", "/revoke", {"token": "not-a-token", "client_id": "app"}
    )
    assert again.status_code == 200  # RFC 7009 §2.2: unknown tokens answer 200
    response = post(
        as_server, pki_files, "other_client", "/introspect", {"token": token, "client_id": "api"}
    )
    assert response.json() == {"active": False}


def test_jwt_introspection_response(
    as_server: AsServer, pki_files: PkiFiles, clients: None
) -> None:
    token = new_token(as_server, pki_files)
    response = post(as_server, pki_files, "other_client", "/introspect", {"token": token, "client_id": "api"},
                    headers={"accept": "application/token-introspection+jwt"})  # fmt: skip
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/token-introspection+jwt")
    with as_server.client() as http:
        keys = KeySet.import_key_set(http.get(f"{as_server.issuer}/jwks").json())
    decoded = jwt.decode(response.text, keys)
    assert decoded.header["typ"] == "token-introspection+jwt"
    assert decoded.claims["token_introspection"]["active"] is True
    assert decoded.claims["aud"] == "api"
