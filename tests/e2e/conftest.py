"""End-to-end fixtures: the test PKI written to files, and a running authorization server.

``as_server`` is certbound on its own TLS listeners. ``as_server_via`` is parametrized over
:data:`FRONTS`: the same server reached directly ("tls": the certificate comes from the TLS
layer) or through a real nginx / HAProxy configured as docs/deploy shows (the certificate comes
from the proxy's header). Every ``as_server_via`` server shares one data directory, in which
:func:`registered_clients` registers the clients of the core issue's checks once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from asserver import AsServer, run_as_server, run_proxied_as_server

from testpki import make_leaf

STEMS = (
    "server",
    "client",
    "other_client",
    "expired",
    "wrong_eku",
    "foreign_client",
    "self_signed",
    "self_signed_ca_trap",
)


@dataclass(frozen=True)
class PkiFiles:
    dir: Path

    def cert(self, stem: str) -> Path:
        return self.dir / f"{stem}.pem"

    def key(self, stem: str) -> Path:
        return self.dir / f"{stem}.key"

    def pair(self, stem: str) -> tuple[Path, Path]:
        return self.cert(stem), self.key(stem)

    @property
    def root(self) -> Path:
        return self.dir / "root.pem"

    @property
    def intermediate(self) -> Path:
        """The issuing CA of every test leaf (what ``trust.intermediates`` names)."""
        return self.dir / "intermediate.pem"


@pytest.fixture(scope="session")
def pki_files(pki, tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    d = tmp_path_factory.mktemp("pki-files")
    for stem in STEMS:
        getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    (d / "intermediate.pem").write_bytes(pki.intermediate.pem)
    # Traps for RFC 8705 §2.1.2 whole-DN matching, issued by the trusted intermediate.
    from testpki import name

    make_leaf(pki.intermediate, name("client-1", o="certbound tests", c="GB")).write(
        d, "dn_superset"
    )
    make_leaf(pki.intermediate, name("client-1", o="Another Org")).write(d, "same_cn")
    make_leaf(None, "self-signed-client").write(d, "self_signed_twin")  # same subject, other key
    return PkiFiles(d)


FRONTS = ("tls", "nginx", "haproxy")


@contextmanager
def start_as_server(
    front: str,
    pki_files: PkiFiles,
    data_dir: Path,
    workdir: Path,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[AsServer]:
    """certbound reached directly (``front="tls"``) or through the proxy named ``front``."""
    tls = {
        "server_chain": pki_files.cert("server"),
        "server_key": pki_files.key("server"),
        "anchors": pki_files.root,
        "ca_file": pki_files.root,
        "overrides": overrides,
    }
    if front == "tls":
        with run_as_server(data_dir, **tls) as server:
            yield server
        return
    with run_proxied_as_server(
        front, data_dir, workdir, intermediates=pki_files.intermediate, **tls
    ) as server:
        yield server


@pytest.fixture(scope="module")
def as_server(pki_files: PkiFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsServer]:
    with start_as_server("tls", pki_files, tmp_path_factory.mktemp("as-data"), Path()) as server:
        yield server


@pytest.fixture(scope="session")
def shared_as_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory (SQLite database, signing keys) of every ``as_server_via`` server."""
    return tmp_path_factory.mktemp("as-shared-data")


@pytest.fixture(scope="module", params=FRONTS)
def as_server_via(
    request: pytest.FixtureRequest,
    pki_files: PkiFiles,
    shared_as_data: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[AsServer]:
    front = request.param
    workdir = tmp_path_factory.mktemp(f"proxy-{front}")
    with start_as_server(front, pki_files, shared_as_data, workdir) as server:
        yield server


def register_client(
    data_dir: Path, metadata: Mapping[str, Any]
) -> subprocess.CompletedProcess[str]:
    """Register through the real CLI into ``data_dir``'s database (another process)."""
    from certbound.config.settings import load_settings

    url = load_settings(None, {"data_dir": data_dir}).database_url
    return certbound_cli(
        "clients", "add", "--metadata", "-", "--data-dir", str(data_dir), "--database-url", url,
        input=json.dumps(metadata),
    )  # fmt: skip


@pytest.fixture(scope="session")
def registered_clients(shared_as_data: Path, pki) -> dict[str, str]:
    """In the shared data directory: client-1 by subject DN, client-2 by SAN dns, a self-signed
    client by jwks. Returns client_id → the pki_files stem of its certificate."""
    from certbound.pki.export import export_jwk

    clients = {
        "dn-client": {"token_endpoint_auth_method": "tls_client_auth",
                      "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests", "scope": "read write"},
        "san-client": {"token_endpoint_auth_method": "tls_client_auth",
                       "tls_client_auth_san_dns": "client-2.example.com"},
        "self-client": {"token_endpoint_auth_method": "self_signed_tls_client_auth",
                        "jwks": {"keys": [export_jwk((pki.self_signed.cert,))]}},
    }  # fmt: skip
    for client_id, metadata in clients.items():
        out = register_client(shared_as_data, {"client_id": client_id, **metadata})
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["client_id"] == client_id
    return {"dn-client": "client", "san-client": "other_client", "self-client": "self_signed"}


def certbound_cli(
    *args: str, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real `certbound` command in a subprocess (as a user would)."""
    return subprocess.run(
        [sys.executable, "-m", "certbound", *args],
        capture_output=True,
        text=True,
        timeout=60,
        input=input,
        env={**os.environ, **(env or {})},
        check=False,
    )
