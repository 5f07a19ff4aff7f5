"""certbound.client._tls: certificate + key files → an ``ssl.SSLContext`` that presents them.

The contexts are checked with a real TLS handshake against a one-shot server on 127.0.0.1 that
requires a client certificate and reports the one it received.
"""

from __future__ import annotations

import os
import ssl
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    NoEncryption,
    pkcs12,
)
from oneshot_server import TIMEOUT, serve_once, server_context

import certbound.client._tls as _tls
from certbound.client import (
    KEY_PASSPHRASE_ENV,
    ClientConfigError,
    client_ssl_context,
    load_client_identity,
)
from certbound.core.mtls.certificate import x5t_s256
from certbound.pki import encode_private_key, export_pkcs12
from testpki import Issued


@pytest.fixture
def files(pki, tmp_path: Path) -> Path:
    for stem in ("client", "other_client", "server"):
        getattr(pki, stem).write(tmp_path, stem)
    (tmp_path / "root.pem").write_bytes(pki.root.pem)
    return tmp_path


def presented_leaf(files: Path, context: ssl.SSLContext) -> bytes:
    """Handshake with a server that requires a client certificate; the DER it received."""
    server = server_context(
        files / "server.pem", files / "server.key", client_ca=files / "root.pem"
    )
    with serve_once(server) as shot, httpx.Client(verify=context, timeout=TIMEOUT) as http:
        assert http.get(shot.url).text == "ok"
    return shot.peer_certs[0]


def test_context_presents_the_leaf_and_verifies_the_server(files: Path, pki) -> None:
    context = client_ssl_context(files / "client.pem", files / "client.key", ca=files / "root.pem")
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert presented_leaf(files, context) == pki.client.cert.public_bytes(Encoding.DER)


def test_without_memfd_the_key_goes_through_a_removed_0600_file(
    files: Path, pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "memfd_create")
    context = client_ssl_context(files / "client.pem", files / "client.key", ca=files / "root.pem")
    assert presented_leaf(files, context) == pki.client.cert.public_bytes(Encoding.DER)


@pytest.mark.parametrize("memory", [True, False], ids=["memfd", "tempfile"])
def test_private_file_is_readable_by_path_only_while_open(memory: bool) -> None:
    with _tls._private_file(b"secret-bytes", memory=memory) as path:
        assert Path(path).read_bytes() == b"secret-bytes"
        if not memory:
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not Path(path).exists()


def test_key_reaches_openssl_only_encrypted(files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handed: list[bytes] = []
    original = _tls._private_file

    @contextmanager
    def spy(data: bytes) -> Iterator[str]:
        handed.append(data)
        with original(data) as path:
            yield path

    monkeypatch.setattr(_tls, "_private_file", spy)
    client_ssl_context(files / "client.pem", files / "client.key", ca=files / "root.pem")
    assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in handed[0]
    assert b"-----BEGIN PRIVATE KEY-----" not in handed[0]


def test_chain_is_kept_leaf_first_with_its_thumbprint(files: Path, pki) -> None:
    identity = load_client_identity(files / "client.pem", files / "client.key")
    assert identity.chain == pki.client.chain and len(identity.chain) == 2
    assert identity.thumbprint == x5t_s256(pki.client.cert)
    assert "key" not in repr(identity).split("chain", 1)[0]


def test_key_may_be_in_the_certificate_file(files: Path, pki, tmp_path: Path) -> None:
    both = tmp_path / "both.pem"
    both.write_bytes(pki.client.chain_pem + pki.client.key_pem)
    assert load_client_identity(both).leaf == pki.client.cert


def test_certificate_file_without_key_and_no_key_file_is_refused(files: Path) -> None:
    with pytest.raises(ClientConfigError, match="holds no private key: pass the key file"):
        load_client_identity(files / "client.pem")


def test_key_of_another_certificate_is_refused(files: Path) -> None:
    with pytest.raises(ClientConfigError) as info:
        load_client_identity(files / "client.pem", files / "other_client.key")
    assert info.value.message.startswith("the private key does not match the certificate")
    assert "must start with the leaf" not in info.value.message


def test_chain_not_starting_with_the_leaf_gets_a_hint(pki, tmp_path: Path) -> None:
    reversed_chain = tmp_path / "reversed.pem"
    reversed_chain.write_bytes(
        pki.intermediate.cert.public_bytes(Encoding.PEM)
        + pki.client.cert.public_bytes(Encoding.PEM)
    )
    key = tmp_path / "k.pem"
    key.write_bytes(pki.client.key_pem)
    with pytest.raises(ClientConfigError, match="the file must start with the leaf"):
        load_client_identity(reversed_chain, key)


@pytest.fixture
def encrypted(pki, tmp_path: Path) -> Path:
    key = tmp_path / "encrypted.key"
    key.write_bytes(encode_private_key(pki.client.key, b"right"))
    return key


def test_encrypted_key_opens_with_the_argument(files: Path, encrypted: Path, pki) -> None:
    identity = load_client_identity(files / "client.pem", encrypted, passphrase=b"right")
    assert identity.leaf == pki.client.cert


def test_encrypted_key_opens_with_a_passphrase_file(
    files: Path, encrypted: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "pass.txt"
    secret.write_bytes(b"right\r\nignored second line\n")
    load_client_identity(files / "client.pem", encrypted, passphrase_file=secret)


def test_encrypted_key_opens_with_the_environment_unless_an_argument_is_given(
    files: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_PASSPHRASE_ENV, "right")
    load_client_identity(files / "client.pem", encrypted)
    with pytest.raises(ClientConfigError, match="wrong passphrase"):
        load_client_identity(files / "client.pem", encrypted, passphrase=b"wrong")


def test_encrypted_key_without_passphrase_says_how_to_give_one(
    files: Path, encrypted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_PASSPHRASE_ENV, raising=False)
    with pytest.raises(ClientConfigError) as info:
        load_client_identity(files / "client.pem", encrypted)
    assert info.value.message.startswith("the private key is encrypted: pass a passphrase")
    assert KEY_PASSPHRASE_ENV in info.value.message


def test_missing_passphrase_file_is_named(files: Path, encrypted: Path, tmp_path: Path) -> None:
    with pytest.raises(ClientConfigError, match=r"passphrase file: .*does not exist"):
        load_client_identity(files / "client.pem", encrypted, passphrase_file=tmp_path / "none")


def write_p12(issued: Issued, path: Path, passphrase: bytes) -> Path:
    path.write_bytes(export_pkcs12(issued.key, issued.chain, passphrase))
    return path


def test_pkcs12_gives_key_and_chain(pki, tmp_path: Path) -> None:
    p12 = write_p12(pki.client, tmp_path / "client.p12", b"p12")
    identity = load_client_identity(p12, passphrase=b"p12")
    assert identity.chain == pki.client.chain


def test_unencrypted_pkcs12_needs_no_passphrase(
    pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_PASSPHRASE_ENV, raising=False)
    pfx = tmp_path / "client.PFX"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, pki.client.key, pki.client.cert, None, NoEncryption()
        )
    )
    assert load_client_identity(pfx).chain == (pki.client.cert,)


def test_pkcs12_with_the_wrong_passphrase_is_refused(pki, tmp_path: Path) -> None:
    p12 = write_p12(pki.client, tmp_path / "client.p12", b"p12")
    with pytest.raises(ClientConfigError, match="wrong passphrase, or not a PKCS#12 file"):
        load_client_identity(p12, passphrase=b"nope")


def test_pkcs12_without_a_key_is_refused(pki, tmp_path: Path) -> None:
    p12 = tmp_path / "certs-only.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, None, None, [pki.client.cert], BestAvailableEncryption(b"p")
        )
    )
    with pytest.raises(ClientConfigError, match="must hold a private key and its certificate"):
        load_client_identity(p12, passphrase=b"p")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        (b"", "is empty"),
        (b"not a certificate", "is not a PEM or DER certificate"),
    ],
    ids=["missing", "empty", "garbage"],
)
def test_unreadable_certificate_file_is_named(
    tmp_path: Path, files: Path, content: bytes | None, message: str
) -> None:
    cert = tmp_path / "cert.pem"
    if content is not None:
        cert.write_bytes(content)
    with pytest.raises(ClientConfigError, match=message):
        load_client_identity(cert, files / "client.key")


def test_unreadable_key_file_is_named(files: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ClientConfigError, match="not a readable private key"):
        load_client_identity(files / "client.pem", bad)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), (b"no pem here", "holds no usable PEM certificate")],
    ids=["missing", "garbage"],
)
def test_unusable_ca_file_is_named(
    files: Path, tmp_path: Path, content: bytes | None, message: str
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_bytes(content)
    with pytest.raises(ClientConfigError, match=message):
        client_ssl_context(files / "client.pem", files / "client.key", ca=ca)


def test_ca_directory_and_system_store_are_accepted(files: Path) -> None:
    for ca in (files, None):
        context = client_ssl_context(files / "client.pem", files / "client.key", ca=ca)
        assert context.verify_mode is ssl.CERT_REQUIRED


def test_pkcs12_with_a_key_type_tls_clients_do_not_use_is_refused(tmp_path: Path) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa
    from cryptography.x509.oid import NameOID

    key = dsa.generate_private_key(2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dsa")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    p12 = tmp_path / "dsa.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(None, key, cert, None, NoEncryption()))
    with pytest.raises(ClientConfigError, match="unsupported key type DSAPrivateKey"):
        load_client_identity(p12)
