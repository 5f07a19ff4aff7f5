"""End-to-end fixtures: the test PKI written to files, and a running authorization server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asserver import AsServer, run_as_server

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


@pytest.fixture(scope="session")
def pki_files(pki, tmp_path_factory: pytest.TempPathFactory) -> PkiFiles:
    d = tmp_path_factory.mktemp("pki-files")
    for stem in STEMS:
        getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    # Traps for RFC 8705 §2.1.2 whole-DN matching, issued by the trusted intermediate.
    from testpki import name

    make_leaf(pki.intermediate, name("client-1", o="certbound tests", c="GB")).write(
        d, "dn_superset"
    )
    make_leaf(pki.intermediate, name("client-1", o="Another Org")).write(d, "same_cn")
    make_leaf(None, "self-signed-client").write(d, "self_signed_twin")  # same subject, other key
    return PkiFiles(d)


@pytest.fixture(scope="module")
def as_server(pki_files: PkiFiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsServer]:
    with run_as_server(
        tmp_path_factory.mktemp("as-data"),
        server_chain=pki_files.cert("server"),
        server_key=pki_files.key("server"),
        anchors=pki_files.root,
        ca_file=pki_files.root,
    ) as server:
        yield server


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
