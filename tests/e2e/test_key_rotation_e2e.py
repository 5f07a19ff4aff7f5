"""Issue "Authorization server surface", Keys, Done-when: "Key rotation: a token signed before
rotation still verifies against the JWKS after it; after retire it does not."

A real server (both TLS listeners on 127.0.0.1) on a data directory of its own; the keys are
rotated and retired by the real `certbound keys` command in another process, and the running
server follows without a restart. The JWKS is fetched over TLS and tokens are checked with joserfc.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asserver import AsServer, run_as_server
from joserfc import jws, jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from certbound.keys import STATE_FILE
from conftest import PkiFiles, certbound_cli

pytestmark = pytest.mark.e2e

RELOAD_WAIT = 5.0  # the server checks the key directory once a second


@pytest.fixture
def server(pki_files: PkiFiles, tmp_path: Path) -> Iterator[AsServer]:
    with run_as_server(
        tmp_path / "as-data",
        server_chain=pki_files.cert("server"),
        server_key=pki_files.key("server"),
        anchors=pki_files.root,
        ca_file=pki_files.root,
    ) as running:
        yield running


def keys_cli(server: AsServer, command: str, *args: str) -> str:
    """`certbound keys COMMAND [args]` against the server's data directory; its stdout."""
    data = ["--data-dir", str(server.settings.data_dir)]
    if command in ("rotate", "activate"):  # they read the clients' token lifetimes
        data += ["--database-url", server.settings.database_url]
    out = certbound_cli("keys", command, *data, *args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def access_token(server: AsServer, files: PkiFiles) -> str:
    with server.client(*files.pair("client")) as http:
        response = http.post(
            f"{server.mtls}/token",
            data={"grant_type": "client_credentials", "client_id": "rotation-client"},
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def kid_of(token: str) -> str:
    return str(jws.extract_compact(token.encode()).protected["kid"])


def served_jwks(server: AsServer) -> dict[str, Any]:
    with server.client() as http:
        response = http.get(f"{server.issuer}/jwks")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def verifies(token: str, jwks: dict[str, Any]) -> bool:
    try:
        claims = jwt.decode(token, KeySet.import_key_set(jwks)).claims  # type: ignore[arg-type]
    except InvalidKeyIdError:
        return False
    return bool(claims["client_id"] == "rotation-client")


def wait_until(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def active_kid(server: AsServer) -> str:
    state = json.loads((server.settings.data_dir / "keys" / STATE_FILE).read_text())
    return str(state["active"])


def test_old_token_verifies_after_rotation_and_not_after_retire(
    server: AsServer, pki_files: PkiFiles
) -> None:
    metadata = {
        "client_id": "rotation-client",
        "token_endpoint_auth_method": "tls_client_auth",
        "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests",
    }
    added = certbound_cli(
        "clients", "add", "--metadata", "-",
        "--data-dir", str(server.settings.data_dir),
        "--database-url", server.settings.database_url,
        input=json.dumps(metadata),
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    old_token = access_token(server, pki_files)
    key_a = kid_of(old_token)
    assert key_a == active_kid(server)

    keys_cli(server, "rotate", "--now")
    key_b = active_kid(server)
    assert key_b != key_a
    assert wait_until(lambda: kid_of(access_token(server, pki_files)) == key_b)
    new_token = access_token(server, pki_files)
    after_rotation = served_jwks(server)
    assert {k["kid"] for k in after_rotation["keys"]} == {key_a, key_b}
    assert verifies(old_token, after_rotation) and verifies(new_token, after_rotation)
    assert json.loads(keys_cli(server, "list", "--json"))[0]["state"] == "retiring"

    keys_cli(server, "retire", "--force", "--", key_a)
    assert wait_until(lambda: key_a not in {k["kid"] for k in served_jwks(server)["keys"]})
    after_retire = served_jwks(server)
    assert not verifies(old_token, after_retire)
    assert verifies(new_token, after_retire)
    assert kid_of(access_token(server, pki_files)) == key_b
    assert not (server.settings.data_dir / "keys" / f"{key_a}.pem").exists()
