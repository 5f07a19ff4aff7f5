"""Root and intermediate CAs (RFC 5280 §4.2.1.9-10), the CA directory and loading it back."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certbound.core.mtls import (
    CertificateError,
    CertificateSource,
    ChainVerifier,
    PeerCertificate,
    TrustStore,
)
from certbound.pki import (
    CaSpec,
    CreatedCa,
    KeyType,
    LeafSpec,
    NameConstraintsSpec,
    OutputFile,
    PkiError,
    SubjectAltNames,
    ca_files,
    create_ca,
    issue_certificate,
    load_ca,
    parse_subject,
    write_outputs,
)
from certbound.pki.ca import default_intermediate_subject
from testpki import make_leaf

YEAR = dt.timedelta(days=365)


def _ext(cert: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def _write(created: CreatedCa, directory: Path, passphrase: bytes | None) -> Path:
    directory.mkdir()
    files = ca_files(created, passphrase)
    write_outputs(
        [OutputFile(directory / n, d, n.endswith(".key")) for n, d in files.items()], force=False
    )
    return directory


def test_root_and_intermediate_have_ca_extensions(ec_ca: CreatedCa) -> None:
    root, inter = ec_ca.root.certificate, ec_ca.intermediate.certificate  # type: ignore[union-attr]
    assert root.issuer == root.subject
    for cert, path_length in ((root, 1), (inter, 0)):
        bc = _ext(cert, x509.BasicConstraints)
        assert bc.critical
        assert bc.value.ca
        assert bc.value.path_length == path_length
        ku = _ext(cert, x509.KeyUsage)
        assert ku.critical
        assert ku.value.key_cert_sign
        assert ku.value.crl_sign
        assert not ku.value.key_encipherment
        assert _ext(cert, x509.SubjectKeyIdentifier).value.digest
    aki = _ext(inter, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(root, x509.SubjectKeyIdentifier).value.digest
    inter.verify_directly_issued_by(root)


def test_default_lifetimes_are_ten_and_five_years(ec_ca: CreatedCa) -> None:
    root, inter = ec_ca.root.certificate, ec_ca.intermediate.certificate  # type: ignore[union-attr]
    assert root.not_valid_after_utc - root.not_valid_before_utc == 10 * YEAR + dt.timedelta(
        minutes=5
    )
    assert inter.not_valid_after_utc - inter.not_valid_before_utc == 5 * YEAR + dt.timedelta(
        minutes=5
    )


def test_intermediate_name_is_derived_from_the_root(ec_ca: CreatedCa) -> None:
    inter = ec_ca.intermediate.certificate  # type: ignore[union-attr]
    assert inter.subject.rfc4514_string() == "CN=Test Intermediate CA,O=Acme"


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("CN=Acme Payments,O=Acme", "CN=Acme Payments Intermediate,O=Acme"),
        ("O=Acme", "CN=Intermediate CA,O=Acme"),
    ],
)
def test_default_intermediate_subject_without_root_in_the_cn(root: str, expected: str) -> None:
    assert default_intermediate_subject(parse_subject(root)).rfc4514_string() == expected


def test_root_only_ca_signs_leaves_itself(root_only_ca: CreatedCa) -> None:
    authority = root_only_ca.authority()
    assert authority.intermediate is None
    assert authority.intermediates == ()
    assert authority.issuer == root_only_ca.root.certificate
    assert _ext(authority.root, x509.BasicConstraints).value.path_length == 0


def test_short_root_caps_the_intermediate_lifetime() -> None:
    created = create_ca(CaSpec(parse_subject("CN=Short Root"), validity=YEAR))
    inter = created.intermediate.certificate  # type: ignore[union-attr]
    assert inter.not_valid_after_utc == created.root.certificate.not_valid_after_utc


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (CaSpec(parse_subject("CN=R"), path_length=0), "path length 0 cannot have an intermediate"),
        (CaSpec(parse_subject("CN=R"), intermediate=False, path_length=-1), "must be 0 or more"),
        (
            CaSpec(parse_subject("CN=R"), validity=YEAR, intermediate_validity=2 * YEAR),
            "intermediate cannot be valid for longer than the root",
        ),
    ],
)
def test_impossible_ca_specs_are_refused(spec: CaSpec, message: str) -> None:
    with pytest.raises(PkiError, match=message):
        create_ca(spec)


def test_explicit_names_path_length_and_key_type() -> None:
    created = create_ca(
        CaSpec(
            parse_subject("CN=Root X"),
            key_type=KeyType.EC_P384,
            intermediate_subject=parse_subject("CN=Issuing X"),
            path_length=2,
        )
    )
    root = created.root.certificate
    assert _ext(root, x509.BasicConstraints).value.path_length == 2
    assert root.signature_hash_algorithm is not None
    assert root.signature_hash_algorithm.name == "sha384"
    assert created.intermediate is not None
    assert created.intermediate.certificate.subject.rfc4514_string() == "CN=Issuing X"


@pytest.fixture(scope="module")
def constrained_ca() -> CreatedCa:
    constraints = NameConstraintsSpec.parse(
        permitted_dns=["clients.example.com"],
        permitted_email=["example.com"],
        permitted_ip=["10.0.0.0/8"],
        excluded_dns=["bad.clients.example.com"],
    )
    return create_ca(CaSpec(parse_subject("CN=Constrained Root"), name_constraints=constraints))


def test_name_constraints_are_critical_on_both_cas(constrained_ca: CreatedCa) -> None:
    assert constrained_ca.intermediate is not None
    for cert in (constrained_ca.root.certificate, constrained_ca.intermediate.certificate):
        nc = _ext(cert, x509.NameConstraints)
        assert nc.critical
        assert x509.DNSName("clients.example.com") in nc.value.permitted_subtrees
        assert x509.DNSName("bad.clients.example.com") in nc.value.excluded_subtrees


@pytest.mark.parametrize(
    ("dns", "trusted"),
    [
        ("a.clients.example.com", True),
        ("a.other.example.com", False),
        ("x.bad.clients.example.com", False),
    ],
)
def test_name_constraints_are_enforced_by_the_verifier(
    constrained_ca: CreatedCa, dns: str, trusted: bool
) -> None:
    issued = issue_certificate(
        constrained_ca.authority(),
        LeafSpec(parse_subject("CN=c"), SubjectAltNames.parse(dns=[dns])),
    )
    verifier = ChainVerifier(TrustStore((constrained_ca.root.certificate,)))
    peer = PeerCertificate(issued.chain, CertificateSource.TLS)
    if trusted:
        verifier.verify(peer)
    else:
        with pytest.raises(CertificateError):
            verifier.verify(peer)


def test_no_name_constraints_means_no_extension(ec_ca: CreatedCa) -> None:
    assert NameConstraintsSpec().extension() is None
    with pytest.raises(x509.ExtensionNotFound):
        _ext(ec_ca.root.certificate, x509.NameConstraints)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"permitted_dns": ["bad_name"]}, "--permitted-dns 'bad_name' is not a DNS name"),
        ({"excluded_email": ["x@bad_domain"]}, "--excluded-email 'bad_domain'"),
        ({"permitted_uri": ["-x.example"]}, "--permitted-uri"),
        ({"excluded_ip": ["10.0.0.300/8"]}, "--excluded-ip '10.0.0.300/8' is not an IP network"),
    ],
)
def test_bad_name_constraints_are_named(kwargs: dict[str, list[str]], message: str) -> None:
    with pytest.raises(PkiError) as info:
        NameConstraintsSpec.parse(**kwargs)
    assert message in str(info.value)


def test_name_constraints_accept_leading_dots_and_mailboxes() -> None:
    spec = NameConstraintsSpec.parse(
        permitted_uri=[".example.com"], permitted_email=["ops@example.com", ".example.org"]
    )
    assert spec.permitted_uri == (".example.com",)
    assert spec.permitted_email == ("ops@example.com", ".example.org")


def test_ca_files_describe_the_ca(ec_ca: CreatedCa) -> None:
    files = ca_files(ec_ca, b"pw")
    assert set(files) == {
        "root.pem",
        "root.key",
        "intermediate.pem",
        "intermediate.key",
        "chain.pem",
        "ca.json",
    }
    assert files["root.key"].startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    chain = x509.load_pem_x509_certificates(files["chain.pem"])
    assert chain == [ec_ca.intermediate.certificate, ec_ca.root.certificate]  # type: ignore[union-attr]
    meta = json.loads(files["ca.json"])
    assert meta["root"]["subject"] == "CN=Test Root CA,O=Acme"
    assert meta["intermediate"]["key_type"] == "ec-p256"
    assert meta["encrypted_keys"] is True
    assert meta["chain"] == "chain.pem"


def test_ca_files_without_intermediate(root_only_ca: CreatedCa) -> None:
    files = ca_files(root_only_ca, None)
    assert set(files) == {"root.pem", "root.key", "chain.pem", "ca.json"}
    assert files["root.key"].startswith(b"-----BEGIN PRIVATE KEY-----")
    assert json.loads(files["ca.json"])["intermediate"] is None


def test_load_ca_reads_the_directory_back(ec_ca: CreatedCa, tmp_path: Path) -> None:
    directory = _write(ec_ca, tmp_path / "ca", b"pw")
    asked: list[int] = []
    authority = load_ca(directory, lambda: asked.append(1) or b"pw")
    assert asked == [1]  # only the signing key is read
    assert authority.issuer == ec_ca.intermediate.certificate  # type: ignore[union-attr]
    assert authority.root == ec_ca.root.certificate


def test_load_root_only_ca(root_only_ca: CreatedCa, tmp_path: Path) -> None:
    authority = load_ca(_write(root_only_ca, tmp_path / "ca", None), None)
    assert authority.intermediate is None


def test_load_ca_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match=f"CA directory {tmp_path / 'nope'} does not exist"):
        load_ca(tmp_path / "nope", None)


def test_load_ca_refuses_a_directory_without_root(tmp_path: Path) -> None:
    with pytest.raises(
        PkiError, match=re.escape("has no root.pem: create it with `certbound pki init-ca`")
    ):
        load_ca(tmp_path, None)


def test_load_ca_refuses_a_leaf_as_root(tmp_path: Path) -> None:
    leaf = make_leaf(None, "not-a-ca")
    (tmp_path / "root.pem").write_bytes(leaf.pem)
    with pytest.raises(PkiError, match=re.escape("root.pem is not a CA certificate")):
        load_ca(tmp_path, None)


def test_load_ca_refuses_a_cert_without_basic_constraints(tmp_path: Path) -> None:
    key = make_leaf(None).key
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")])
    now = dt.datetime.now(dt.UTC)
    bare = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + YEAR)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "root.pem").write_bytes(bare.public_bytes(Encoding.PEM))
    with pytest.raises(PkiError, match="basicConstraints CA:FALSE or missing"):
        load_ca(tmp_path, None)


def test_load_ca_refuses_the_wrong_passphrase(ec_ca: CreatedCa, tmp_path: Path) -> None:
    directory = _write(ec_ca, tmp_path / "ca", b"pw")
    with pytest.raises(PkiError, match=r"wrong passphrase for .*intermediate.key"):
        load_ca(directory, lambda: b"not-pw")


def test_load_ca_refuses_an_encrypted_key_without_passphrase(
    ec_ca: CreatedCa, tmp_path: Path
) -> None:
    directory = _write(ec_ca, tmp_path / "ca", b"pw")
    with pytest.raises(
        PkiError, match=re.escape("intermediate.key is encrypted and no passphrase was given")
    ):
        load_ca(directory, None)


def test_load_ca_refuses_a_key_of_another_certificate(ec_ca: CreatedCa, tmp_path: Path) -> None:
    directory = _write(ec_ca, tmp_path / "ca", None)
    (directory / "intermediate.key").write_bytes((directory / "root.key").read_bytes())
    with pytest.raises(
        PkiError, match=re.escape("intermediate.key does not match the certificate")
    ):
        load_ca(directory, None)


def test_load_ca_refuses_an_intermediate_of_another_root(
    ec_ca: CreatedCa, root_only_ca: CreatedCa, tmp_path: Path
) -> None:
    directory = _write(ec_ca, tmp_path / "ca", None)
    (directory / "root.pem").write_bytes(root_only_ca.root.certificate_pem())
    with pytest.raises(PkiError, match=re.escape("intermediate.pem is not signed by root.pem")):
        load_ca(directory, None)
