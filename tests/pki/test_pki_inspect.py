"""Describing certificates and bundles: fields, time left, thumbprints and chain order."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from certbound.core.mtls import x5t_s256
from certbound.pki import (
    CreatedCa,
    IssuedCertificate,
    KeyType,
    LeafSpec,
    SubjectAltNames,
    describe_bundle,
    describe_certificate,
    issue_certificate,
    parse_subject,
    self_signed_certificate,
)
from certbound.pki.inspect import validity_status
from testpki import make_leaf


@pytest.fixture(scope="module")
def leaf(ec_ca: CreatedCa) -> IssuedCertificate:
    sans = SubjectAltNames.parse(
        dns=["c1.example"], uri=["spiffe://acme/c1"], ip=["10.0.0.7"], email=["ops@acme.example"]
    )
    return issue_certificate(ec_ca.authority(), LeafSpec(parse_subject("CN=c1,O=Acme"), sans))


def test_leaf_description_has_every_field(leaf: IssuedCertificate) -> None:
    cert = leaf.certificate
    a_day_later = cert.not_valid_before_utc + dt.timedelta(days=1, minutes=5)
    desc = describe_certificate(cert, now=a_day_later)
    assert desc.subject == "CN=c1,O=Acme"
    assert desc.issuer == "CN=Test Intermediate CA,O=Acme"
    assert int(desc.serial, 16) == cert.serial_number
    assert desc.sans == {
        "dns": ["c1.example"],
        "ip": ["10.0.0.7"],
        "uri": ["spiffe://acme/c1"],
        "email": ["ops@acme.example"],
    }
    assert (desc.key_type, desc.key_size) == ("ec-p256", 256)
    assert desc.signature_algorithm == "ecdsa-with-SHA256"
    assert desc.extended_key_usage == ["clientAuth"]
    assert (desc.ca, desc.path_length, desc.self_signed) == (False, None, False)
    assert desc.key_usage == ["digital_signature"]
    assert desc.x5t_s256 == x5t_s256(cert)
    assert desc.status == "valid, 89 days left"
    assert desc.seconds_left == 89 * 86400


def test_ca_description_shows_path_length(ec_ca: CreatedCa) -> None:
    desc = describe_certificate(ec_ca.root.certificate)
    assert (desc.ca, desc.path_length, desc.self_signed) == (True, 1, True)
    assert desc.key_usage == ["digital_signature", "key_cert_sign", "crl_sign"]
    assert desc.sans == {}
    assert desc.extended_key_usage == []


@pytest.mark.parametrize(
    ("key_type", "name", "size"),
    [(KeyType.RSA_2048, "rsa-2048", 2048), (KeyType.ED25519, "ed25519", 256)],
)
def test_key_type_names(key_type: KeyType, name: str, size: int) -> None:
    cert = self_signed_certificate(LeafSpec(parse_subject("CN=k"), key_type=key_type)).certificate
    desc = describe_certificate(cert)
    assert (desc.key_type, desc.key_size) == (name, size)
    if key_type is KeyType.RSA_2048:
        assert desc.key_usage == ["digital_signature", "key_encipherment"]


def test_other_curves_are_described() -> None:
    key = ec.generate_private_key(ec.SECP521R1())
    leaf = make_leaf(None, "p521", key=key)  # type: ignore[arg-type]
    assert describe_certificate(leaf.cert).key_type == "ec-p521"


def test_to_json_is_serialisable_with_the_wire_name(leaf: IssuedCertificate) -> None:
    data = json.loads(json.dumps(describe_certificate(leaf.certificate).to_json()))
    assert data["x5t#S256"] == x5t_s256(leaf.certificate)
    assert "x5t_s256" not in data
    assert dt.datetime.fromisoformat(data["not_after"]) == leaf.certificate.not_valid_after_utc


def test_validity_status_words(leaf: IssuedCertificate) -> None:
    cert = leaf.certificate
    after = cert.not_valid_after_utc + dt.timedelta(days=3, hours=2)
    assert validity_status(cert, after) == (
        -int((after - cert.not_valid_after_utc).total_seconds()),
        "expired 3 days 2 hours ago",
    )
    before = cert.not_valid_before_utc - dt.timedelta(hours=5)
    assert validity_status(cert, before)[1] == "not yet valid (starts in 5 hours)"


def test_bundle_in_leaf_first_order(leaf: IssuedCertificate, ec_ca: CreatedCa) -> None:
    bundle = describe_bundle([*leaf.chain, ec_ca.root.certificate])
    assert bundle.leaf_first
    assert [link.issued_by_next for link in bundle.chain] == [True, True, False]
    assert bundle.chain[0].subject == "CN=c1,O=Acme"
    assert bundle.chain[0].issuer == "CN=Test Intermediate CA,O=Acme"


def test_reversed_bundle_is_not_leaf_first(leaf: IssuedCertificate, ec_ca: CreatedCa) -> None:
    bundle = describe_bundle([ec_ca.root.certificate, *reversed(leaf.chain)])
    assert not bundle.leaf_first
    data = json.loads(json.dumps(bundle.to_json()))
    assert data["leaf_first"] is False
    assert len(data["certificates"]) == 3


def test_unrelated_certificates_are_not_a_chain(leaf: IssuedCertificate) -> None:
    other = make_leaf(None, "other").cert
    assert not describe_bundle([leaf.certificate, other]).leaf_first


def test_single_certificate_is_trivially_leaf_first(leaf: IssuedCertificate) -> None:
    bundle = describe_bundle([leaf.certificate])
    assert bundle.leaf_first
    assert bundle.chain[0].issued_by_next is False


def test_directory_and_other_sans_are_shown_as_text() -> None:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    name = parse_subject("CN=dir")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DirectoryName(parse_subject("CN=alt,O=Acme")),
                    x509.RegisteredID(x509.ObjectIdentifier("1.2.3")),
                    x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x01a"),
                ]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    assert describe_certificate(cert).sans == {
        "dirname": ["CN=alt,O=Acme"],
        "other": ["registeredID:1.2.3", "otherName:1.3.6.1.4.1.311.20.2.3"],
    }
