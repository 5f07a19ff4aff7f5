"""Interop with the openssl CLI: certificates made by `certbound pki` verify, and do mutual TLS.

Everything here is produced by the real CLI (``certbound.cli.main``, in-process) and then checked
by OpenSSL: ``openssl verify -x509_strict`` with the TLS purposes, a real mutual-TLS handshake
against ``openssl s_server``, encrypted keys, PKCS#12 and the thumbprints.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pki_cli_runner import CliResult

PASS = "interop-pass"
CA_TYPES = ("ec-p256", "ec-p384", "rsa-2048", "ed25519")


@dataclass(frozen=True)
class Interop:
    dir: Path
    pass_file: Path

    def ca(self, name: str) -> Path:
        return self.dir / f"ca-{name}"


def _ok(result: CliResult) -> CliResult:
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def interop(tmp_path_factory: pytest.TempPathFactory, cli: Callable[..., CliResult]) -> Interop:
    d = tmp_path_factory.mktemp("interop")
    pw = d / "pass.txt"
    pw.write_text(PASS + "\n")
    enc = ("--passphrase-file", pw)
    ca_enc = ("--ca-passphrase-file", pw)
    for kt in CA_TYPES:
        _ok(cli("pki", "init-ca", d / f"ca-{kt}", "--key-type", kt, *enc))
        _ok(
            cli(
                "pki",
                "issue",
                "--ca",
                d / f"ca-{kt}",
                *ca_enc,
                "--subject",
                f"CN=client-{kt},O=Acme",
                "--dns",
                f"client-{kt}.example.com",
                "--key-type",
                kt,
                *enc,
                "--out",
                d / f"client-{kt}",
            )
        )
    # rsa-3072 and (the one) rsa-4096 leaf under the P-256 CA; a SAN-less banking-style client
    for kt in ("rsa-3072", "rsa-4096"):
        _ok(
            cli(
                "pki",
                "issue",
                "--ca",
                d / "ca-ec-p256",
                *ca_enc,
                "--subject",
                f"CN=client-{kt}",
                "--key-type",
                kt,
                *enc,
                "--out",
                d / f"client-{kt}",
            )
        )
    _ok(
        cli(
            "pki",
            "issue",
            "--ca",
            d / "ca-ec-p256",
            *ca_enc,
            "--server",
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
            *enc,
            "--out",
            d / "server",
        )
    )
    _ok(
        cli(
            "pki",
            "self-signed",
            "--subject",
            "CN=self-signed-client",
            "--uri",
            "spiffe://acme/self",
            *enc,
            "--out",
            d / "self",
        )
    )
    _ok(
        cli("pki", "init-ca", d / "foreign", "--name", "CN=Foreign Root", "--no-intermediate", *enc)
    )
    _ok(
        cli(
            "pki",
            "issue",
            "--ca",
            d / "foreign",
            *ca_enc,
            "--subject",
            "CN=client-ec-p256",
            *enc,
            "--out",
            d / "foreign-client",
        )
    )
    return Interop(d, pw)


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )


def _verify(interop: Interop, ca: str, leaf: str, purpose: str) -> subprocess.CompletedProcess[str]:
    return _openssl(
        "verify",
        "-x509_strict",
        "-purpose",
        purpose,
        "-CAfile",
        interop.ca(ca) / "root.pem",
        "-untrusted",
        interop.ca(ca) / "intermediate.pem",
        interop.dir / f"{leaf}.pem",
    )


@pytest.mark.parametrize("key_type", CA_TYPES)
def test_openssl_verifies_client_certificates_of_each_key_type(
    interop: Interop, key_type: str
) -> None:
    result = _verify(interop, key_type, f"client-{key_type}", "sslclient")
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.strip().endswith(": OK")


@pytest.mark.parametrize("key_type", ["rsa-3072", "rsa-4096"])
def test_openssl_verifies_rsa_leaves_under_an_ec_ca(interop: Interop, key_type: str) -> None:
    result = _verify(interop, "ec-p256", f"client-{key_type}", "sslclient")
    assert result.returncode == 0, result.stderr + result.stdout


def test_openssl_verifies_the_server_certificate_for_ssl_server(interop: Interop) -> None:
    assert _verify(interop, "ec-p256", "server", "sslserver").returncode == 0
    refused = _verify(interop, "ec-p256", "server", "sslclient")
    assert refused.returncode != 0
    assert "unsuitable certificate purpose" in refused.stdout + refused.stderr


def test_openssl_refuses_a_client_certificate_as_a_server(interop: Interop) -> None:
    result = _verify(interop, "ec-p256", "client-ec-p256", "sslserver")
    assert result.returncode != 0
    assert "unsuitable certificate purpose" in result.stdout + result.stderr


def test_openssl_verifies_the_self_signed_client(interop: Interop) -> None:
    self_pem = interop.dir / "self.pem"
    plain = _openssl("verify", "-x509_strict", "-CAfile", self_pem, self_pem)
    assert plain.returncode == 0, plain.stderr
    purpose = _openssl(
        "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", self_pem, self_pem
    )
    assert purpose.returncode == 0, purpose.stderr


def test_openssl_enforces_the_name_constraints_of_a_cli_ca(
    interop: Interop, cli: Callable[..., CliResult]
) -> None:
    d = interop.dir
    _ok(
        cli("pki", "init-ca", d / "ca-nc", "--permitted-dns", "clients.example.com", "--no-encrypt")
    )
    for name in ("inside", "outside"):
        dns = f"{name}.clients.example.com" if name == "inside" else "outside.example.org"
        _ok(
            cli(
                "pki",
                "issue",
                "--ca",
                d / "ca-nc",
                "--subject",
                f"CN={name}",
                "--dns",
                dns,
                "--no-encrypt",
                "--out",
                d / f"nc-{name}",
            )
        )
    assert _verify(interop, "nc", "nc-inside", "sslclient").returncode == 0
    outside = _verify(interop, "nc", "nc-outside", "sslclient")
    assert outside.returncode != 0
    assert "permitted subtree violation" in outside.stdout + outside.stderr


def test_openssl_decrypts_the_pkcs8_key_with_the_passphrase(interop: Interop) -> None:
    key = interop.dir / "client-ec-p256.key"
    assert key.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    good = _openssl("pkey", "-in", key, "-passin", f"file:{interop.pass_file}", "-noout")
    assert good.returncode == 0, good.stderr
    bad = _openssl("pkey", "-in", key, "-passin", "pass:wrong", "-noout")
    assert bad.returncode != 0


def test_openssl_reads_the_pkcs12_export(interop: Interop, cli: Callable[..., CliResult]) -> None:
    d = interop.dir
    p12 = d / "client.p12"
    _ok(
        cli(
            "pki",
            "export",
            d / "client-ec-p256-chain.pem",
            "--format",
            "p12",
            "--key",
            d / "client-ec-p256.key",
            "--key-passphrase-file",
            interop.pass_file,
            "--passphrase-file",
            interop.pass_file,
            "--out",
            p12,
        )
    )
    out = _openssl("pkcs12", "-in", p12, "-passin", f"file:{interop.pass_file}", "-nokeys")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("-----BEGIN CERTIFICATE-----") == 2
    assert "subject=O = Acme, CN = client-ec-p256" in out.stdout
    assert "friendlyName: CN=client-ec-p256,O=Acme" in out.stdout
    key = _openssl(
        "pkcs12", "-in", p12, "-passin", f"file:{interop.pass_file}", "-nocerts", "-nodes"
    )
    assert "-----BEGIN PRIVATE KEY-----" in key.stdout


def test_thumbprints_match_openssl(interop: Interop, cli: Callable[..., CliResult]) -> None:
    pem = interop.dir / "client-ec-p256.pem"
    info = json.loads(_ok(cli("pki", "inspect", pem, "--json")).stdout)["certificates"][0]
    der = subprocess.run(
        ["openssl", "x509", "-in", pem, "-outform", "DER"], capture_output=True, check=True
    ).stdout
    x5t = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()
    assert info["x5t#S256"] == x5t
    assert _ok(cli("pki", "thumbprint", pem)).stdout.strip() == x5t
    pub = subprocess.run(
        ["openssl", "x509", "-in", pem, "-pubkey", "-noout"], capture_output=True, check=True
    ).stdout
    spki = subprocess.run(
        ["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, capture_output=True, check=True
    ).stdout
    assert info["spki_sha256"] == base64.b64encode(hashlib.sha256(spki).digest()).decode()


# --- a real mutual-TLS handshake against openssl s_server -------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    port: int
    log: Path


@pytest.fixture(scope="module")
def s_server(interop: Interop) -> Iterator[Server]:
    """openssl s_server requiring a client certificate from one of the CLI-made CAs."""
    d = interop.dir
    anchors = d / "trusted-roots.pem"
    anchors.write_bytes(b"".join((interop.ca(k) / "root.pem").read_bytes() for k in CA_TYPES))
    port, log = _free_port(), d / "s_server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                "openssl",
                "s_server",
                "-accept",
                f"127.0.0.1:{port}",
                "-naccept",
                "20",
                "-cert",
                str(d / "server.pem"),
                "-key",
                str(d / "server.key"),
                "-pass",
                f"file:{interop.pass_file}",
                "-cert_chain",
                str(interop.ca("ec-p256") / "intermediate.pem"),
                "-CAfile",
                str(anchors),
                "-Verify",
                "3",
                "-verify_return_error",
                "-www",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(200):  # up to ~10 s for the listener
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.fail("openssl s_server did not start listening")
        yield Server(port, log)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _https_get(server: Server, interop: Interop, client: str) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(interop.ca("ec-p256") / "root.pem")
    ctx.load_cert_chain(
        interop.dir / f"{client}-chain.pem", interop.dir / f"{client}.key", password=PASS
    )
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
        chunks = []
        for _ in range(1000):  # bounded read until EOF
            chunk = tls.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.parametrize("key_type", CA_TYPES)
def test_mutual_tls_handshake_with_openssl_s_server(
    s_server: Server, interop: Interop, key_type: str
) -> None:
    response = _https_get(s_server, interop, f"client-{key_type}")
    assert response.startswith(b"HTTP/1.0 200 ok")
    assert f"CN=client-{key_type}" in response.decode(errors="replace").replace(" = ", "=")


def test_client_certificate_of_another_ca_is_refused(s_server: Server, interop: Interop) -> None:
    response = b""
    with pytest.raises((ssl.SSLError, ConnectionError)):
        response = _https_get(s_server, interop, "foreign-client")
    assert b"200 ok" not in response
    deadline = time.monotonic() + 5
    while "unable to get local issuer certificate" not in s_server.log.read_text(errors="replace"):
        assert time.monotonic() < deadline, s_server.log.read_text(errors="replace")
        time.sleep(0.05)
