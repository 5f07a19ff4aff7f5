"""`certbound pki`: every command through the real entry point, its exit codes and its messages.

Exit codes: 0 ok, 1 file system failure, 2 bad input, 3 untrusted chain (`verify`). A failed
command leaves no file behind. (The openssl interop checks are in tests/pki/test_pki_interop.py.)
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
import re
import stat
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from joserfc.jwk import thumbprint
from typer.testing import CliRunner

import certbound.cli.pki as pki_cli
from certbound.cli import app, main
from certbound.core.mtls import x5t_s256
from certbound.pki import (
    LeafSpec,
    encode_private_key,
    load_private_key,
    parse_subject,
    self_signed_certificate,
)
from testpki import make_ca, make_leaf

ENVS = ("CERTBOUND_KEY_PASSPHRASE", "CERTBOUND_CA_PASSPHRASE", "CERTBOUND_P12_PASSPHRASE")
COMMANDS = ("init-ca", "issue", "self-signed", "renew", "inspect", "thumbprint", "export", "verify")


@dataclass(frozen=True)
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        return self.stderr.strip()


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    """The console script's `main()`, in-process, with the passphrase variables cleared."""
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_env = sys.argv, {k: os.environ.pop(k, None) for k in (*ENVS, "COLUMNS")}
    sys.argv = ["certbound", "pki", *map(str, args)]
    os.environ.update({"COLUMNS": "1000", **(env or {})})  # one line per message, as on a wide tty
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = saved_argv
        for name, value in saved_env.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value
    return Result(code, out.getvalue(), err.getvalue())


def ok(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 0, result.stderr
    return result


def refused(*args: str | Path, code: int = 2, env: dict[str, str] | None = None) -> str:
    result = run(*args, env=env)
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert result.stderr.startswith("error: ")
    return result.error


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def cert_of(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificates(path.read_bytes())[0]


def ext(cert: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pki-cli")


@pytest.fixture(scope="module")
def pass_file(work: Path) -> Path:
    path = work / "pass.txt"
    path.write_text("the-passphrase\n")
    return path


@pytest.fixture(scope="module")
def ca(work: Path) -> Path:
    """An unencrypted P-256 CA with an intermediate."""
    ok("init-ca", work / "ca", "--no-encrypt")
    return work / "ca"


@pytest.fixture(scope="module")
def enc_ca(work: Path, pass_file: Path) -> Path:
    """A CA whose keys are encrypted with the passphrase in ``pass_file``."""
    ok("init-ca", work / "enc-ca", "--passphrase-file", pass_file, "--name", "CN=Enc Root")
    return work / "enc-ca"


@pytest.fixture(scope="module")
def client(work: Path, ca: Path) -> Path:
    """PREFIX of an unencrypted client certificate issued by ``ca``."""
    ok(
        "issue",
        "--ca",
        ca,
        "--subject",
        "CN=client-1,O=Acme",
        "--dns",
        "client-1.example.com",
        "--no-encrypt",
        "--out",
        work / "client-1",
    )
    return work / "client-1"


# --- help ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = ok(command, "--help")
    assert "Usage:" in result.stdout


def test_pki_help_lists_commands_and_exit_codes() -> None:
    result = ok("--help")
    for command in COMMANDS:
        assert command in result.stdout
    assert "3 untrusted chain" in " ".join(result.stdout.split())


# --- init-ca -------------------------------------------------------------------------------------


def test_init_ca_writes_the_ca_directory(ca: Path) -> None:
    assert listing(ca) == sorted(
        ["root.pem", "root.key", "intermediate.pem", "intermediate.key", "chain.pem", "ca.json"]
    )
    assert mode(ca) == 0o700
    assert mode(ca / "root.key") == 0o600
    assert mode(ca / "intermediate.key") == 0o600
    assert mode(ca / "root.pem") == 0o644
    root, inter = cert_of(ca / "root.pem"), cert_of(ca / "intermediate.pem")
    assert root.subject.rfc4514_string() == "CN=certbound Root CA"
    assert x509.load_pem_x509_certificates((ca / "chain.pem").read_bytes()) == [inter, root]
    assert (ca / "root.key").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    meta = json.loads((ca / "ca.json").read_text())
    assert meta["intermediate"]["subject"] == "CN=certbound Intermediate CA"
    assert meta["root"]["x5t#S256"] == x5t_s256(root)


def test_init_ca_reports_what_it_wrote(tmp_path: Path) -> None:
    result = ok("init-ca", tmp_path / "ca", "--no-encrypt", "--no-intermediate")
    assert f"wrote {tmp_path / 'ca' / 'root.key'}" in result.stdout
    assert "CA ready: leaves will be signed by CN=certbound Root CA (keys NOT encrypted)" in (
        " ".join(result.stdout.split())
    )


def test_init_ca_json_describes_the_ca(tmp_path: Path) -> None:
    result = ok("init-ca", tmp_path / "ca", "--no-encrypt", "--json")
    data = json.loads(result.stdout)
    assert data["directory"] == str(tmp_path / "ca")
    assert data["root"]["key_type"] == "ec-p256"
    assert data["encrypted_keys"] is False


def test_init_ca_options_shape_the_ca(tmp_path: Path) -> None:
    ok("init-ca", tmp_path / "ca", "--no-encrypt", "--key-type", "ec-p384", "--validity", "2y",
       "--intermediate-validity", "1y", "--name", "CN=Acme Root,O=Acme", "--intermediate-name",
       "CN=Acme Issuing,O=Acme", "--path-length", "2", "--permitted-dns", "acme.example",
       "--excluded-ip", "10.0.0.0/8", "--permitted-email", "acme.example",
       "--permitted-uri", ".acme.example", "--excluded-dns", "x.acme.example",
       "--excluded-email", "x.acme.example", "--excluded-uri", "x.acme.example",
       "--permitted-ip", "192.168.0.0/16")  # fmt: skip
    root, inter = (
        cert_of(tmp_path / "ca" / "root.pem"),
        cert_of(tmp_path / "ca" / "intermediate.pem"),
    )
    assert root.subject.rfc4514_string() == "CN=Acme Root,O=Acme"
    assert inter.subject.rfc4514_string() == "CN=Acme Issuing,O=Acme"
    assert ext(root, x509.BasicConstraints).value.path_length == 2
    assert root.not_valid_after_utc - root.not_valid_before_utc == dt.timedelta(days=730, minutes=5)
    assert inter.not_valid_after_utc - inter.not_valid_before_utc == dt.timedelta(
        days=365, minutes=5
    )
    constraints = ext(inter, x509.NameConstraints)
    assert constraints.critical
    assert x509.DNSName("acme.example") in constraints.value.permitted_subtrees
    assert len(constraints.value.excluded_subtrees) == 4


def test_init_ca_without_intermediate(tmp_path: Path) -> None:
    ok("init-ca", tmp_path / "ca", "--no-encrypt", "--no-intermediate")
    assert listing(tmp_path / "ca") == ["ca.json", "chain.pem", "root.key", "root.pem"]
    assert ext(cert_of(tmp_path / "ca" / "root.pem"), x509.BasicConstraints).value.path_length == 0


def test_init_ca_encrypts_keys_with_a_passphrase_file(enc_ca: Path) -> None:
    key = (enc_ca / "intermediate.key").read_bytes()
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    load_private_key(key, lambda: b"the-passphrase", label="k")


@pytest.mark.parametrize("how", ["env", "alias"])
def test_init_ca_passphrase_from_env_or_ca_passphrase_file(
    tmp_path: Path, pass_file: Path, how: str
) -> None:
    if how == "env":
        ok("init-ca", tmp_path / "ca", "--no-intermediate", env={"CERTBOUND_CA_PASSPHRASE": "e"})
        secret = b"e"
    else:
        ok("init-ca", tmp_path / "ca", "--no-intermediate", "--ca-passphrase-file", pass_file)
        secret = b"the-passphrase"
    load_private_key((tmp_path / "ca" / "root.key").read_bytes(), lambda: secret, label="k")


def test_init_ca_prompts_on_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pki_cli, "_stdin_is_tty", lambda: True)
    result = CliRunner().invoke(
        app, ["pki", "init-ca", str(tmp_path / "ca"), "--no-intermediate"], input="typed\ntyped\n"
    )
    assert result.exit_code == 0, result.output
    assert "typed" not in result.output  # hidden input
    load_private_key((tmp_path / "ca" / "root.key").read_bytes(), lambda: b"typed", label="k")


def test_issue_prompts_for_the_ca_and_the_new_key_on_a_terminal(
    tmp_path: Path, enc_ca: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pki_cli, "_stdin_is_tty", lambda: True)
    args = ["pki", "issue", "--ca", str(enc_ca), "--subject", "CN=p", "--out", str(tmp_path / "p")]
    result = CliRunner().invoke(app, args, input="the-passphrase\nnew-key\nnew-key\n")
    assert result.exit_code == 0, result.output
    assert "Passphrase for the CA key" in result.output
    load_private_key((tmp_path / "p.key").read_bytes(), lambda: b"new-key", label="k")


def test_export_prompts_for_the_pkcs12_passphrase_on_a_terminal(
    tmp_path: Path, client: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENVS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pki_cli, "_stdin_is_tty", lambda: True)
    args = ["pki", "export", f"{client}-chain.pem", "--format", "p12", "--key", f"{client}.key",
            "--out", str(tmp_path / "c.p12")]  # fmt: skip
    result = CliRunner().invoke(app, args, input="p12-pass\np12-pass\n")
    assert result.exit_code == 0, result.output
    assert pkcs12.load_key_and_certificates((tmp_path / "c.p12").read_bytes(), b"p12-pass")[1]


def test_init_ca_without_passphrase_source_fails_in_ci(tmp_path: Path) -> None:
    message = refused("init-ca", tmp_path / "ca")
    assert message == (
        "error: no passphrase for the CA keys and stdin is not a terminal: use "
        "--passphrase-file or set CERTBOUND_CA_PASSPHRASE, or --no-encrypt"
    )
    assert listing(tmp_path) == []


def test_init_ca_refuses_existing_files(ca: Path) -> None:
    before = (ca / "root.pem").read_bytes()
    message = refused("init-ca", ca, "--no-encrypt")
    assert message == f"error: {ca / 'root.pem'} already exists (use --force to overwrite)"
    assert (ca / "root.pem").read_bytes() == before


def test_init_ca_force_replaces_and_drops_a_stale_intermediate(tmp_path: Path) -> None:
    ok("init-ca", tmp_path / "ca", "--no-encrypt")
    old_root = (tmp_path / "ca" / "root.pem").read_bytes()
    ok("init-ca", tmp_path / "ca", "--no-encrypt", "--no-intermediate", "--force")
    assert listing(tmp_path / "ca") == ["ca.json", "chain.pem", "root.key", "root.pem"]
    assert (tmp_path / "ca" / "root.pem").read_bytes() != old_root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--key-type", "dsa"), "unknown key type 'dsa': use one of ec-p256, ec-p384"),
        (("--validity", "90x"), "invalid duration '90x'"),
        (("--validity", "-1d"), "invalid duration '-1d'"),
        (("--validity", "0h"), "invalid duration '0h': it must be longer than zero"),
        (("--name", "FOO=bar"), "invalid subject 'FOO=bar'"),
        (("--path-length", "0"), "a root with path length 0 cannot have an intermediate"),
        (("--permitted-ip", "10.0.0.1/8"), "--permitted-ip '10.0.0.1/8' is not an IP network"),
        (("--intermediate-validity", "20y"), "the intermediate cannot be valid for longer"),
        (("--no-encrypt", "--passphrase-file", "p"), "--no-encrypt and --passphrase-file exclude"),
    ],
)
def test_init_ca_bad_input_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    extra = () if "--no-encrypt" in args else ("--no-encrypt",)
    assert message in refused("init-ca", tmp_path / "ca", *extra, *args)
    assert listing(tmp_path) == []


def test_init_ca_needs_an_existing_parent(tmp_path: Path) -> None:
    message = refused("init-ca", tmp_path / "a" / "ca", "--no-encrypt")
    assert message == f"error: output directory {tmp_path / 'a'} does not exist"


def test_init_ca_refuses_a_file_as_directory(tmp_path: Path) -> None:
    (tmp_path / "ca").write_text("x")
    assert "exists and is not a directory" in refused("init-ca", tmp_path / "ca", "--no-encrypt")


@pytest.mark.parametrize(
    ("content", "message"), [("", "is empty"), ("\nsecond\n", "starts with an empty line")]
)
def test_unusable_passphrase_file_is_named(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "p.txt").write_text(content)
    error = refused("init-ca", tmp_path / "ca", "--passphrase-file", tmp_path / "p.txt")
    assert message in error
    assert listing(tmp_path) == ["p.txt"]


# --- issue ---------------------------------------------------------------------------------------


def test_issue_writes_key_certificate_and_chain(client: Path, ca: Path) -> None:
    key, pem, chain = (Path(f"{client}{s}") for s in (".key", ".pem", "-chain.pem"))
    assert mode(key) == 0o600
    assert mode(pem) == 0o644
    leaf = cert_of(pem)
    assert x509.load_pem_x509_certificates(chain.read_bytes()) == [
        leaf,
        cert_of(ca / "intermediate.pem"),
    ]
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert leaf.subject.rfc4514_string() == "CN=client-1,O=Acme"


def test_issue_reports_validity_and_thumbprint(tmp_path: Path, ca: Path) -> None:
    result = ok("issue", "--ca", ca, "--subject", "CN=c", "--no-encrypt", "--out", tmp_path / "c")
    leaf = cert_of(tmp_path / "c.pem")
    text = " ".join(result.stdout.split())
    assert (
        f"wrote {tmp_path / 'c.pem'} (CN=c, valid 90 days, x5t#S256 {x5t_s256(leaf)[:16]}" in text
    )
    assert f"wrote {tmp_path / 'c.key'} (NOT encrypted, mode 0600)" in text
    assert "leaf + 1 intermediate(s), no root" in text


@pytest.mark.parametrize(
    ("key_type", "description"),
    [("ec-p384", "ec-p384"), ("rsa-2048", "rsa-2048"), ("ed25519", "ed25519")],
)
def test_issue_each_key_type(tmp_path: Path, ca: Path, key_type: str, description: str) -> None:
    ok("issue", "--ca", ca, "--subject", "CN=k", "--key-type", key_type, "--no-encrypt",
       "--out", tmp_path / "k")  # fmt: skip
    info = json.loads(ok("inspect", tmp_path / "k.pem", "--json").stdout)
    assert info["certificates"][0]["key_type"] == description


def test_issue_short_lived_certificate(tmp_path: Path, ca: Path) -> None:
    ok("issue", "--ca", ca, "--subject", "CN=short", "--validity", "15m", "--no-encrypt",
       "--out", tmp_path / "s")  # fmt: skip
    leaf = cert_of(tmp_path / "s.pem")
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == dt.timedelta(minutes=20)


def test_issue_server_certificate(tmp_path: Path, ca: Path) -> None:
    ok("issue", "--ca", ca, "--server", "--dns", "api.example.com", "--ip", "127.0.0.1",
       "--no-encrypt", "--out", tmp_path / "srv")  # fmt: skip
    leaf = cert_of(tmp_path / "srv.pem")
    assert leaf.subject.rfc4514_string() == "CN=api.example.com"
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert ext(leaf, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == [
        "api.example.com"
    ]


def test_issue_json_names_the_files(tmp_path: Path, ca: Path) -> None:
    result = ok("issue", "--ca", ca, "--subject", "CN=j", "--uri", "spiffe://acme/j",
                "--email", "j@acme.example", "--no-encrypt", "--out", tmp_path / "j", "--json")  # fmt: skip
    data = json.loads(result.stdout)
    assert data["files"] == {
        "key": f"{tmp_path / 'j'}.key",
        "certificate": f"{tmp_path / 'j'}.pem",
        "chain": f"{tmp_path / 'j'}-chain.pem",
    }
    assert data["key_encrypted"] is False
    assert data["sans"] == {"uri": ["spiffe://acme/j"], "email": ["j@acme.example"]}
    assert data["x5t#S256"] == x5t_s256(cert_of(tmp_path / "j.pem"))


@pytest.mark.parametrize("how", ["file", "env"])
def test_issue_with_an_encrypted_ca_and_key(
    tmp_path: Path, enc_ca: Path, pass_file: Path, how: str
) -> None:
    if how == "file":
        ok("issue", "--ca", enc_ca, "--ca-passphrase-file", pass_file, "--subject", "CN=e",
           "--passphrase-file", pass_file, "--out", tmp_path / "e")  # fmt: skip
        secret = b"the-passphrase"
    else:
        env = {"CERTBOUND_CA_PASSPHRASE": "the-passphrase", "CERTBOUND_KEY_PASSPHRASE": "k"}
        ok("issue", "--ca", enc_ca, "--subject", "CN=e", "--out", tmp_path / "e", env=env)
        secret = b"k"
    key = (tmp_path / "e.key").read_bytes()
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    load_private_key(key, lambda: secret, label="k")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subject", "CN=x", "--validity", "90x"), "invalid duration '90x'"),
        (("--subject", "CN=x", "--validity", "-1d"), "invalid duration '-1d'"),
        (("--subject", "CN=x", "--validity", "0h"), "it must be longer than zero"),
        (
            ("--subject", "CN=x", "--validity", "6y"),
            "the requested validity ends after the issuing CA",
        ),
        (("--subject", "CN=x", "--key-type", "rsa-1024"), "unknown key type 'rsa-1024'"),
        (("--subject", "FOO=bar"), "invalid subject 'FOO=bar'"),
        ((), "--subject is required"),
        (("--subject", ""), "a certificate with an empty subject needs at least one SAN"),
        (("--server",), "a server certificate needs at least one --dns or --ip name"),
        (("--server", "--uri", "spiffe://x/y"), "needs at least one --dns or --ip"),
        (("--subject", "CN=x", "--ip", "1.2.3"), "--ip '1.2.3' is not an IPv4 or IPv6 address"),
        (("--subject", "CN=x", "--dns", "10.0.0.1"), "is an IP address: give it with --ip"),
        (("--subject", "CN=x", "--passphrase-file", "p"), "--no-encrypt and --passphrase-file"),
    ],
)
def test_issue_bad_input_writes_nothing(
    tmp_path: Path, ca: Path, args: tuple[str, ...], message: str
) -> None:
    assert message in refused("issue", "--ca", ca, "--no-encrypt", *args, "--out", tmp_path / "x")
    assert listing(tmp_path) == []


def test_issue_without_a_key_passphrase_fails_in_ci(tmp_path: Path, ca: Path) -> None:
    message = refused("issue", "--ca", ca, "--subject", "CN=x", "--out", tmp_path / "x")
    assert "no passphrase for the new key and stdin is not a terminal" in message
    assert "CERTBOUND_KEY_PASSPHRASE" in message
    assert listing(tmp_path) == []


def test_issue_refuses_an_existing_output(tmp_path: Path, ca: Path) -> None:
    (tmp_path / "x-chain.pem").write_text("mine")
    message = refused(
        "issue", "--ca", ca, "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "x"
    )
    assert message == f"error: {tmp_path / 'x-chain.pem'} already exists (use --force to overwrite)"
    assert listing(tmp_path) == ["x-chain.pem"]
    ok("issue", "--ca", ca, "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "x", "--force")
    assert listing(tmp_path) == ["x-chain.pem", "x.key", "x.pem"]


def test_issue_needs_the_output_directory(tmp_path: Path, ca: Path) -> None:
    message = refused(
        "issue", "--ca", ca, "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "d" / "x"
    )
    assert message == f"error: output directory {tmp_path / 'd'} does not exist"


def test_issue_missing_ca_directory(tmp_path: Path) -> None:
    message = refused("issue", "--ca", tmp_path / "nope", "--subject", "CN=x", "--no-encrypt",
                      "--out", tmp_path / "x")  # fmt: skip
    assert message == f"error: CA directory {tmp_path / 'nope'} does not exist"
    assert listing(tmp_path) == []


def test_issue_ca_directory_without_root(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    message = refused(
        "issue",
        "--ca",
        tmp_path / "ca",
        "--subject",
        "CN=x",
        "--no-encrypt",
        "--out",
        tmp_path / "x",
    )
    assert "has no root.pem: create it with `certbound pki init-ca`" in message


def test_issue_ca_certificate_that_is_not_a_ca(tmp_path: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "root.pem").write_bytes(make_leaf(None, "leaf").pem)
    message = refused(
        "issue",
        "--ca",
        tmp_path / "ca",
        "--subject",
        "CN=x",
        "--no-encrypt",
        "--out",
        tmp_path / "x",
    )
    assert (
        message
        == f"error: {tmp_path / 'ca' / 'root.pem'} is not a CA certificate (basicConstraints CA:FALSE or missing)"
    )
    assert listing(tmp_path) == ["ca"]


def test_issue_truncated_ca_certificate(tmp_path: Path, ca: Path) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "root.pem").write_bytes((ca / "root.pem").read_bytes()[:200])
    message = refused(
        "issue",
        "--ca",
        tmp_path / "ca",
        "--subject",
        "CN=x",
        "--no-encrypt",
        "--out",
        tmp_path / "x",
    )
    assert "has a truncated PEM certificate (BEGIN without END)" in message


def test_issue_wrong_ca_passphrase(tmp_path: Path, enc_ca: Path) -> None:
    (tmp_path / "wrong.txt").write_text("nope\n")
    message = refused("issue", "--ca", enc_ca, "--ca-passphrase-file", tmp_path / "wrong.txt",
                      "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "x")  # fmt: skip
    assert message == f"error: wrong passphrase for {enc_ca / 'intermediate.key'}"
    assert listing(tmp_path) == ["wrong.txt"]


def test_issue_encrypted_ca_without_passphrase_fails_in_ci(tmp_path: Path, enc_ca: Path) -> None:
    message = refused(
        "issue", "--ca", enc_ca, "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "x"
    )
    assert message == (
        "error: the CA key is encrypted and stdin is not a terminal: use --ca-passphrase-file "
        "or set CERTBOUND_CA_PASSPHRASE"
    )


def test_issue_ca_key_not_matching(tmp_path: Path, ca: Path) -> None:
    copy = tmp_path / "ca"
    copy.mkdir()
    for name in ("root.pem", "intermediate.pem"):
        (copy / name).write_bytes((ca / name).read_bytes())
    (copy / "intermediate.key").write_bytes((ca / "root.key").read_bytes())
    message = refused(
        "issue", "--ca", copy, "--subject", "CN=x", "--no-encrypt", "--out", tmp_path / "x"
    )
    assert "intermediate.key does not match the certificate's public key" in message


def test_file_system_failure_exits_1() -> None:
    result = run("self-signed", "--subject", "CN=x", "--no-encrypt", "--out", "/proc/certbound-x")
    assert result.exit_code == 1
    assert result.error == "error: cannot write /proc/certbound-x.key: No such file or directory"


# --- self-signed ---------------------------------------------------------------------------------


def test_self_signed_writes_key_and_certificate(tmp_path: Path) -> None:
    result = ok("self-signed", "--subject", "CN=self", "--dns", "self.example", "--no-encrypt",
                "--validity", "30d", "--key-type", "ec-p384", "--out", tmp_path / "self", "--json")  # fmt: skip
    assert listing(tmp_path) == ["self.key", "self.pem"]
    leaf = cert_of(tmp_path / "self.pem")
    assert leaf.issuer == leaf.subject
    assert not ext(leaf, x509.BasicConstraints).value.ca
    assert list(ext(leaf, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    data = json.loads(result.stdout)
    assert data["self_signed"] is True
    assert data["key_type"] == "ec-p384"
    assert set(data["files"]) == {"key", "certificate"}


def test_self_signed_bad_input_writes_nothing(tmp_path: Path) -> None:
    assert "--subject is required" in refused(
        "self-signed", "--no-encrypt", "--out", tmp_path / "s"
    )
    assert "invalid duration '1x'" in refused(
        "self-signed",
        "--subject",
        "CN=s",
        "--validity",
        "1x",
        "--no-encrypt",
        "--out",
        tmp_path / "s",
    )
    assert listing(tmp_path) == []


# --- renew ---------------------------------------------------------------------------------------


def test_renew_repeats_a_ca_issued_certificate(tmp_path: Path, ca: Path, pass_file: Path) -> None:
    ok("issue", "--ca", ca, "--subject", "CN=r,O=Acme", "--dns", "r.example", "--validity", "10d",
       "--passphrase-file", pass_file, "--key-type", "rsa-2048", "--out", tmp_path / "old")  # fmt: skip
    result = ok("renew", tmp_path / "old.pem", "--ca", ca, "--key", tmp_path / "old.key",
                "--key-passphrase-file", pass_file, "--no-encrypt", "--out", tmp_path / "new", "--json")  # fmt: skip
    old, new = cert_of(tmp_path / "old.pem"), cert_of(tmp_path / "new.pem")
    assert new.subject == old.subject
    assert ext(new, x509.SubjectAlternativeName) == ext(old, x509.SubjectAlternativeName)
    assert new.public_key() != old.public_key()
    assert json.loads(result.stdout)["key_type"] == "rsa-2048"
    assert (tmp_path / "new-chain.pem").exists()
    assert result.stderr == ""


def test_renew_self_signed_without_ca(tmp_path: Path) -> None:
    ok("self-signed", "--subject", "CN=s", "--no-encrypt", "--out", tmp_path / "s")
    ok(
        "renew",
        tmp_path / "s.pem",
        "--no-encrypt",
        "--key-type",
        "ec-p384",
        "--out",
        tmp_path / "s2",
    )
    assert listing(tmp_path) == ["s.key", "s.pem", "s2.key", "s2.pem"]
    assert cert_of(tmp_path / "s2.pem").issuer.rfc4514_string() == "CN=s"


def test_renew_warns_about_an_expired_certificate(tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = self_signed_certificate(
        LeafSpec(parse_subject("CN=old"), validity=dt.timedelta(days=1)), now=past
    )
    (tmp_path / "old.pem").write_bytes(old.certificate_pem())
    result = ok("renew", tmp_path / "old.pem", "--no-encrypt", "--out", tmp_path / "new")
    assert f"warning: {tmp_path / 'old.pem'} has already expired; renewing anyway" in result.error
    new = cert_of(tmp_path / "new.pem")
    assert new.not_valid_after_utc > dt.datetime.now(dt.UTC)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("wrong-key", "does not match the certificate's public key"),
        ("other-ca", "not by this CA (CN=Enc Intermediate)"),
        ("no-ca", "issued by CN=certbound Intermediate CA: give --ca"),
        ("self-with-ca", "is self-signed: renew it without --ca"),
        ("ca-cert", "is a CA certificate: make a new CA with `pki init-ca`"),
        ("bad-key-type", "unknown key type 'dsa'"),
    ],
)
def test_renew_bad_input_writes_nothing(
    tmp_path: Path, ca: Path, enc_ca: Path, client: Path, pass_file: Path, case: str, message: str
) -> None:
    other = make_leaf(None, "other")
    (tmp_path / "other.key").write_bytes(other.key_pem)
    (tmp_path / "self.pem").write_bytes(other.pem)
    args: dict[str, tuple[str | Path, ...]] = {
        "wrong-key": (f"{client}.pem", "--ca", ca, "--key", tmp_path / "other.key"),
        "other-ca": (f"{client}.pem", "--ca", enc_ca, "--ca-passphrase-file", pass_file),
        "no-ca": (f"{client}.pem",),
        "self-with-ca": (tmp_path / "self.pem", "--ca", ca),
        "ca-cert": (ca / "intermediate.pem", "--ca", ca),
        "bad-key-type": (f"{client}.pem", "--ca", ca, "--key-type", "dsa"),
    }
    before = listing(tmp_path)
    error = refused("renew", *args[case], "--no-encrypt", "--out", tmp_path / "new")
    assert message in error
    assert listing(tmp_path) == before


# --- inspect / thumbprint ------------------------------------------------------------------------


def test_inspect_shows_a_table_and_the_chain_order(client: Path) -> None:
    result = ok("inspect", f"{client}-chain.pem")
    text = result.stdout
    for needle in ("CN=client-1,O=Acme", "client-1.example.com", "clientAuth", "x5t#S256",
                   "SPKI SHA-256", "ec-p256 (256 bits)", "yes, path length 0", "certificate 2 of 2"):  # fmt: skip
        assert needle in text
    assert "order: leaf first" in text
    assert x5t_s256(cert_of(Path(f"{client}.pem"))) in text


def test_inspect_json_of_a_bundle(client: Path, ca: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "reversed.pem"
    bundle.write_bytes((ca / "root.pem").read_bytes() + Path(f"{client}.pem").read_bytes())
    data = json.loads(ok("inspect", bundle, "--json").stdout)
    assert [c["subject"] for c in data["certificates"]] == [
        "CN=certbound Root CA",
        "CN=client-1,O=Acme",
    ]
    assert data["leaf_first"] is False
    assert data["chain"][0] == {
        "subject": "CN=certbound Root CA",
        "issuer": "CN=certbound Root CA",
        "issued_by_next": False,
    }
    assert "NOT leaf first" in ok("inspect", bundle).stdout


def test_inspect_reads_der_and_shows_expiry(tmp_path: Path) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)
    old = self_signed_certificate(
        LeafSpec(parse_subject("CN=old"), validity=dt.timedelta(days=1)), now=past
    ).certificate
    (tmp_path / "old.der").write_bytes(old.public_bytes(serialization.Encoding.DER))
    data = json.loads(ok("inspect", tmp_path / "old.der", "--json").stdout)["certificates"][0]
    assert data["status"] == "expired 9 days ago"
    assert data["seconds_left"] < 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"garbage bytes", "is not a PEM or DER certificate (truncated or damaged)"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "holds no certificate"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB\n", "truncated PEM certificate"),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "damaged PEM"),
    ],
)
def test_unreadable_certificate_files_are_named(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    for command in ("inspect", "thumbprint"):
        error = refused(command, path)
        assert error.startswith(f"error: {path}")
        assert message in error


def test_truncated_der_is_refused(tmp_path: Path, client: Path) -> None:
    der = cert_of(Path(f"{client}.pem")).public_bytes(serialization.Encoding.DER)
    (tmp_path / "cut.der").write_bytes(der[:-10])
    assert "is not a PEM or DER certificate" in refused("inspect", tmp_path / "cut.der")


def test_missing_and_directory_inputs_are_named(tmp_path: Path) -> None:
    assert (
        refused("inspect", tmp_path / "nope.pem")
        == f"error: {tmp_path / 'nope.pem'} does not exist"
    )
    assert refused("inspect", tmp_path) == f"error: {tmp_path} is a directory, not a file"


def test_thumbprint_prints_x5t_s256(client: Path) -> None:
    expected = x5t_s256(cert_of(Path(f"{client}.pem")))
    assert ok("thumbprint", f"{client}-chain.pem").stdout == expected + "\n"
    assert json.loads(ok("thumbprint", f"{client}.pem", "--json").stdout) == {"x5t#S256": expected}


# --- export --------------------------------------------------------------------------------------


def test_export_pem_to_stdout(client: Path) -> None:
    out = ok("export", f"{client}-chain.pem").stdout
    assert out.encode() == Path(f"{client}-chain.pem").read_bytes()


def test_export_der_needs_out_and_writes_the_leaf(tmp_path: Path, client: Path) -> None:
    assert refused("export", f"{client}-chain.pem", "--format", "der") == (
        "error: der is binary: give --out FILE"
    )
    ok("export", f"{client}-chain.pem", "--format", "der", "--out", tmp_path / "c.der")
    der = (tmp_path / "c.der").read_bytes()
    assert x509.load_der_x509_certificate(der) == cert_of(Path(f"{client}.pem"))


def test_export_jwk_kid_and_x5c(tmp_path: Path, client: Path) -> None:
    jwk = json.loads(ok("export", f"{client}-chain.pem", "--format", "jwk").stdout)
    assert jwk["kid"] == thumbprint({k: jwk[k] for k in ("kty", "crv", "x", "y")})
    leaf_der = cert_of(Path(f"{client}.pem")).public_bytes(serialization.Encoding.DER)
    assert base64.b64decode(jwk["x5c"][0]) == leaf_der
    assert len(jwk["x5c"]) == 2
    assert jwk["x5t#S256"] == x5t_s256(cert_of(Path(f"{client}.pem")))
    assert "use" not in jwk
    ok("export", f"{client}.pem", "--format", "jwk", "--out", tmp_path / "c.jwk")
    assert json.loads((tmp_path / "c.jwk").read_text())["kid"] == jwk["kid"]
    assert mode(tmp_path / "c.jwk") == 0o644


@pytest.mark.parametrize("how", ["file", "env"])
def test_export_pkcs12(tmp_path: Path, client: Path, pass_file: Path, how: str) -> None:
    source: tuple[str | Path, ...] = ("--passphrase-file", pass_file) if how == "file" else ()
    env = {"CERTBOUND_P12_PASSPHRASE": "the-passphrase"} if how == "env" else None
    ok("export", f"{client}-chain.pem", "--format", "p12", "--key", f"{client}.key", *source,
       "--out", tmp_path / "c.p12", env=env)  # fmt: skip
    assert mode(tmp_path / "c.p12") == 0o600
    key, cert, extra = pkcs12.load_key_and_certificates(
        (tmp_path / "c.p12").read_bytes(), b"the-passphrase"
    )
    assert cert == cert_of(Path(f"{client}.pem"))
    assert len(extra) == 1
    assert key is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "xml"), "unknown format 'xml': use pem, der, p12 or jwk"),
        (("--format", "jwk", "--key", "k.key"), "--key is used only with --format p12"),
        (("--format", "p12", "--out", "OUT"), "--format p12 needs --key"),
        (("--format", "p12", "--key", "KEY"), "p12 is binary: give --out FILE"),
        (("--format", "p12", "--key", "WRONG", "--out", "OUT"), "does not match the certificate"),
        (("--format", "p12", "--key", "KEY", "--out", "OUT"), "no passphrase for the PKCS#12 file"),
    ],
)
def test_export_bad_input_writes_nothing(
    tmp_path: Path, client: Path, args: tuple[str, ...], message: str
) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(encode_private_key(make_leaf(None).key, None))
    subst = {"OUT": str(tmp_path / "out"), "KEY": f"{client}.key", "WRONG": str(other)}
    error = refused("export", f"{client}-chain.pem", *(subst.get(a, a) for a in args))
    assert message in error
    assert "--no-encrypt" not in error
    assert listing(tmp_path) == ["other.key"]


def test_export_refuses_an_existing_out(tmp_path: Path, client: Path) -> None:
    (tmp_path / "c.pem").write_text("mine")
    assert "already exists" in refused("export", f"{client}.pem", "--out", tmp_path / "c.pem")
    ok("export", f"{client}.pem", "--out", tmp_path / "c.pem", "--force")
    assert (tmp_path / "c.pem").read_bytes() == Path(f"{client}.pem").read_bytes()


# --- verify --------------------------------------------------------------------------------------


def test_verify_a_trusted_chain(client: Path, ca: Path) -> None:
    result = ok("verify", f"{client}-chain.pem", "--trust-anchors", ca / "root.pem")
    assert " ".join(result.stdout.split()) == (
        "trusted: CN=client-1,O=Acme → CN=certbound Intermediate CA → CN=certbound Root CA"
    )
    data = json.loads(
        ok("verify", f"{client}-chain.pem", "--trust-anchors", ca / "root.pem", "--json").stdout
    )
    assert data["trusted"] is True
    assert data["chain"][-1] == "CN=certbound Root CA"
    assert data["x5t#S256"] == x5t_s256(cert_of(Path(f"{client}.pem")))


def test_verify_leaf_without_intermediate_is_untrusted(client: Path, ca: Path) -> None:
    error = refused("verify", f"{client}.pem", "--trust-anchors", ca / "root.pem", code=3)
    assert error.startswith("error: not trusted (chain_incomplete): client certificate")
    result = run("verify", f"{client}.pem", "--trust-anchors", ca / "root.pem", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason"] == "chain_incomplete"


def test_verify_foreign_ca_is_untrusted(client: Path, enc_ca: Path) -> None:
    error = refused("verify", f"{client}-chain.pem", "--trust-anchors", enc_ca / "root.pem", code=3)
    assert error.startswith("error: not trusted (")


def test_verify_server_certificate_has_the_wrong_eku(tmp_path: Path, ca: Path) -> None:
    ok(
        "issue",
        "--ca",
        ca,
        "--server",
        "--dns",
        "s.example",
        "--no-encrypt",
        "--out",
        tmp_path / "s",
    )
    error = refused("verify", tmp_path / "s-chain.pem", "--trust-anchors", ca / "root.pem", code=3)
    assert "not trusted (wrong_eku)" in error


def test_verify_revoked_by_crl(tmp_path: Path, ca: Path, client: Path) -> None:
    inter = cert_of(ca / "intermediate.pem")
    key = load_private_key((ca / "intermediate.key").read_bytes(), None, label="k")
    now = dt.datetime.now(dt.UTC)
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(cert_of(Path(f"{client}.pem")).serial_number)
        .revocation_date(now)
        .build()
    )
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(inter.subject)
        .last_update(now - dt.timedelta(minutes=1))
        .next_update(now + dt.timedelta(days=1))
        .add_revoked_certificate(revoked)
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    (tmp_path / "i.crl").write_bytes(crl.public_bytes(serialization.Encoding.DER))
    error = refused("verify", f"{client}-chain.pem", "--trust-anchors", ca / "root.pem",
                    "--crl", tmp_path / "i.crl", code=3)  # fmt: skip
    assert "not trusted (revoked)" in error


def test_verify_bad_trust_inputs_are_bad_input(tmp_path: Path, client: Path, ca: Path) -> None:
    (tmp_path / "leaf.pem").write_bytes(make_leaf(None, "leaf").pem)
    error = refused("verify", f"{client}-chain.pem", "--trust-anchors", tmp_path / "leaf.pem")
    assert re.search(r"leaf\.pem: trust anchor 'CN=leaf,O=certbound tests' is not a CA", error)
    (tmp_path / "cut.pem").write_bytes((ca / "chain.pem").read_bytes()[:-40])
    error = refused("verify", f"{client}-chain.pem", "--trust-anchors", tmp_path / "cut.pem")
    assert "has a truncated PEM certificate" in error
    (tmp_path / "bad.crl").write_bytes(b"not a crl")
    error = refused("verify", f"{client}-chain.pem", "--trust-anchors", ca / "root.pem",
                    "--crl", tmp_path / "bad.crl")  # fmt: skip
    assert "CRL #1 is not a PEM or DER CRL" in error
    assert "does not exist" in refused(
        "verify", tmp_path / "no.pem", "--trust-anchors", ca / "root.pem"
    )


def test_trust_anchor_bundle_of_several_cas(tmp_path: Path, client: Path, ca: Path) -> None:
    other = make_ca("Other Root")
    bundle = tmp_path / "anchors.pem"
    bundle.write_bytes(other.pem + (ca / "root.pem").read_bytes())
    ok("verify", f"{client}-chain.pem", "--trust-anchors", bundle)
