"""bench/tools/mtls_load.c, the C load generator of `bench/run.sh workers`, against the real server.

The benchmark itself is not a test (it asserts nothing and takes minutes); its load generator is a
program of this repository, so it is compiled and run here: a second of keep-alive token requests
over real mutual-TLS connections to a running certbound, the JSON line `bench/run.sh` reads, and
every kind of bad input (exit 2 with a message) or failing server (counted errors, exit 1).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from asserver import AsServer

from conftest import PkiFiles, register_client

pytestmark = pytest.mark.e2e

SOURCE = Path(__file__).resolve().parents[2] / "bench" / "tools" / "mtls_load.c"
FORM = "content-type: application/x-www-form-urlencoded"
CLIENT_ID = "loadgen-client"


@pytest.fixture(scope="module")
def mtls_load(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not Path("/usr/include/openssl/ssl.h").exists():
        pytest.skip("needs a C compiler and OpenSSL's headers (Debian: gcc libssl-dev)")
    binary = tmp_path_factory.mktemp("mtls-load") / "mtls-load"
    build = subprocess.run(
        [cc, "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(SOURCE),
         "-lssl", "-lcrypto"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    return binary


@pytest.fixture(scope="module")
def registered(as_server: AsServer) -> AsServer:
    out = register_client(
        as_server.settings.data_dir,
        {"client_id": CLIENT_ID, "token_endpoint_auth_method": "tls_client_auth",
         "tls_client_auth_subject_dn": "CN=client-1,O=certbound tests"},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return as_server


def identities(tmp_path: Path, pki_files: PkiFiles, stem: str = "client") -> Path:
    path = tmp_path / "ids.tsv"
    cert, key = pki_files.pair(stem)
    body = f"grant_type=client_credentials&client_id={CLIENT_ID}"
    path.write_text(f"# chain, key, body\n{cert}\t{key}\t{body}\n")
    return path


def run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60)


def test_keep_alive_token_requests_over_mutual_tls(
    mtls_load: Path, registered: AsServer, pki_files: PkiFiles, tmp_path: Path
) -> None:
    ids = identities(tmp_path, pki_files)
    url = f"{registered.mtls}/token"
    out = run(mtls_load, "--url", url, "--identities", str(ids), "--header", FORM,
              "--connections", "4", "--duration", "1", "--label", "e2e", "--json")  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["label"] == "e2e" and result["mode"] == "keepalive"
    assert (result["connections"], result["clients"], result["errors"]) == (4, 1, 0)
    assert result["requests_ok"] > 0 and result["errors_by_type"] == {}
    assert result["rps"] == pytest.approx(result["requests_ok"] / result["duration_s"], rel=0.01)
    latency = result["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert 0 <= result["client_cpu_pct"] <= 100


def test_refused_requests_are_counted_and_fail_the_run(
    mtls_load: Path, registered: AsServer, pki_files: PkiFiles, tmp_path: Path
) -> None:
    ids = identities(tmp_path, pki_files)
    url = f"{registered.mtls}/token"
    # Without the form content type every request is a 400 invalid_request.
    out = run(mtls_load, "--url", url, "--identities", str(ids), "--duration", "0.5", "--json")
    assert out.returncode == 1
    result = json.loads(out.stdout)
    assert result["requests_ok"] == 0 and result["latency_ms"] is None
    assert result["errors_by_type"] == {"http_4xx": result["errors"]} and result["errors"] > 0
    # The mTLS listener refuses a certificate no trusted CA issued: a failed handshake each time.
    foreign = identities(tmp_path, pki_files, "foreign_client")
    out = run(mtls_load, "--url", url, "--identities", str(foreign), "--header", FORM,
              "--connections", "2", "--duration", "0.5", "--json")  # fmt: skip
    assert out.returncode == 1
    kinds = json.loads(out.stdout)["errors_by_type"]
    assert set(kinds) <= {"tls", "ECONNRESET"} and sum(kinds.values()) > 0


def test_no_server_is_counted_as_connect_errors(
    mtls_load: Path, pki_files: PkiFiles, tmp_path: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ids = identities(tmp_path, pki_files)
    out = run(mtls_load, "--url", f"https://127.0.0.1:{port}/token", "--identities", str(ids),
              "--duration", "0.3", "--json")  # fmt: skip
    assert out.returncode == 1
    assert set(json.loads(out.stdout)["errors_by_type"]) == {"connect"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "--url and --identities are required"),
        (("--url", "http://127.0.0.1:1/x", "--identities", "IDS"), "must be https://"),
        (("--url", "https://127.0.0.1/x", "--identities", "IDS"), "must name a port"),
        (("--url", "https://127.0.0.1:1/x", "--identities", "/nonexistent"), "cannot read"),
        (("--url", "https://127.0.0.1:1/x", "--identities", "BAD"), "CHAIN<TAB>KEY"),
        (
            ("--url", "https://127.0.0.1:1/x", "--identities", "IDS", "--connections", "0"),
            "--connections must be",
        ),
        (
            ("--url", "https://127.0.0.1:1/x", "--identities", "IDS", "--duration", "-1"),
            "--duration must be",
        ),
        (
            ("--url", "https://127.0.0.1:1/x", "--identities", "IDS", "--bogus", "1"),
            "unknown option --bogus",
        ),
        (("--url",), "--url needs a value"),
        (("--bogus",), "unknown option --bogus"),
    ],
)
def test_bad_usage_exits_2_with_a_message(
    mtls_load: Path, pki_files: PkiFiles, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ids = identities(tmp_path, pki_files)
    bad = tmp_path / "bad.tsv"
    bad.write_text("only-one-field\n")
    args = tuple(str(ids) if a == "IDS" else str(bad) if a == "BAD" else a for a in args)
    out = run(mtls_load, *args)
    assert out.returncode == 2
    assert message in out.stderr and out.stdout == ""


def test_help_names_every_option(mtls_load: Path) -> None:
    out = run(mtls_load, "--help")
    assert out.returncode == 0
    for option in ("--url", "--identities", "--header", "--connections", "--duration", "--json"):
        assert option in out.stdout
