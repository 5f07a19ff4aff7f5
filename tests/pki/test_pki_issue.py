"""Client, server and self-signed leaves (RFC 5280 §4.2.1, RFC 8705 §2.1/§2.2)."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

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
    IssuedCertificate,
    KeyType,
    LeafSpec,
    PkiError,
    Profile,
    SubjectAltNames,
    create_ca,
    is_self_signed,
    issue_certificate,
    parse_subject,
    self_signed_certificate,
)
from certbound.pki._build import BACKDATE

LEAF_TYPES = [KeyType.EC_P256, KeyType.EC_P384, KeyType.RSA_2048, KeyType.ED25519]
CLIENT = LeafSpec(parse_subject("CN=client-1,O=Acme"), SubjectAltNames.parse(dns=["c1.example"]))


def _ext(cert: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


@pytest.fixture(scope="module")
def clients(ec_ca: CreatedCa) -> dict[KeyType, IssuedCertificate]:
    authority = ec_ca.authority()
    return {
        k: issue_certificate(
            authority,
            LeafSpec(CLIENT.subject, CLIENT.sans, key_type=k),
        )
        for k in LEAF_TYPES
    }


@pytest.mark.parametrize("key_type", LEAF_TYPES)
def test_client_leaf_has_the_client_profile(
    clients: dict[KeyType, IssuedCertificate], ec_ca: CreatedCa, key_type: KeyType
) -> None:
    issued = clients[key_type]
    cert = issued.certificate
    bc = _ext(cert, x509.BasicConstraints)
    assert bc.critical
    assert not bc.value.ca
    ku = _ext(cert, x509.KeyUsage)
    assert ku.critical
    assert ku.value.digital_signature
    assert not ku.value.key_cert_sign
    assert ku.value.key_encipherment is isinstance(issued.private_key, rsa.RSAPrivateKey)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = _ext(cert, x509.SubjectAlternativeName)
    assert not san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["c1.example"]
    ski = _ext(cert, x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(issued.private_key.public_key())
    inter = ec_ca.intermediate.certificate  # type: ignore[union-attr]
    aki = _ext(cert, x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == _ext(inter, x509.SubjectKeyIdentifier).value.digest
    cert.verify_directly_issued_by(inter)
    assert issued.chain == (cert, inter)


def test_serial_numbers_are_random_and_at_most_159_bits(
    clients: dict[KeyType, IssuedCertificate],
) -> None:
    serials = {c.certificate.serial_number for c in clients.values()}
    assert len(serials) == len(clients)
    assert all(0 < s < 2**159 for s in serials)


def test_validity_starts_backdated_and_lasts_as_asked(ec_ca: CreatedCa) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    spec = LeafSpec(CLIENT.subject, validity=dt.timedelta(hours=24))
    cert = issue_certificate(ec_ca.authority(), spec, now=now).certificate
    assert cert.not_valid_before_utc == now - BACKDATE
    assert cert.not_valid_after_utc == now + dt.timedelta(hours=24)


def test_server_leaf_has_server_auth_and_host_sans(ec_ca: CreatedCa) -> None:
    spec = LeafSpec(
        parse_subject("CN=localhost"),
        SubjectAltNames.parse(dns=["localhost"], ip=["127.0.0.1", "::1"]),
        profile=Profile.SERVER,
    )
    cert = issue_certificate(ec_ca.authority(), spec).certificate
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ips = _ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.IPAddress)
    assert [str(i) for i in ips] == ["127.0.0.1", "::1"]


@pytest.mark.parametrize(
    "sans", [SubjectAltNames(), SubjectAltNames.parse(uri=["spiffe://x/y"], email=["a@b.example"])]
)
def test_server_leaf_needs_a_dns_or_ip_name(ec_ca: CreatedCa, sans: SubjectAltNames) -> None:
    spec = LeafSpec(parse_subject("CN=srv"), sans, profile=Profile.SERVER)
    with pytest.raises(PkiError, match="server certificate needs at least one --dns or --ip"):
        issue_certificate(ec_ca.authority(), spec)


def test_empty_subject_makes_the_san_critical(ec_ca: CreatedCa) -> None:
    spec = LeafSpec(parse_subject(""), SubjectAltNames.parse(uri=["spiffe://acme/client-1"]))
    cert = issue_certificate(ec_ca.authority(), spec).certificate
    assert len(cert.subject) == 0
    assert _ext(cert, x509.SubjectAlternativeName).critical


def test_empty_subject_without_sans_is_refused(ec_ca: CreatedCa) -> None:
    with pytest.raises(PkiError, match="empty subject needs at least one SAN"):
        issue_certificate(ec_ca.authority(), LeafSpec(parse_subject("")))


def test_san_less_client_is_issued_and_accepted_by_the_core_verifier(ec_ca: CreatedCa) -> None:
    issued = issue_certificate(ec_ca.authority(), LeafSpec(parse_subject("CN=bank-client,O=Bank")))
    with pytest.raises(x509.ExtensionNotFound):
        _ext(issued.certificate, x509.SubjectAlternativeName)
    verifier = ChainVerifier(TrustStore((ec_ca.root.certificate,)))
    verified = verifier.verify(PeerCertificate(issued.chain, CertificateSource.TLS))
    assert verified.chain[-1] == ec_ca.root.certificate


@pytest.mark.parametrize("key_type", LEAF_TYPES)
def test_core_verifier_accepts_issued_clients(
    clients: dict[KeyType, IssuedCertificate], ec_ca: CreatedCa, key_type: KeyType
) -> None:
    verifier = ChainVerifier(TrustStore((ec_ca.root.certificate,)))
    verifier.verify(PeerCertificate(clients[key_type].chain, CertificateSource.TLS))


def test_core_verifier_refuses_ed25519_cas_a_known_limit() -> None:
    """cryptography's web-PKI profile forbids Ed25519 CA keys: use them for §2.2 or tests only."""
    created = create_ca(CaSpec(parse_subject("CN=Ed Root"), key_type=KeyType.ED25519))
    issued = issue_certificate(created.authority(), CLIENT)
    verifier = ChainVerifier(TrustStore((created.root.certificate,)))
    with pytest.raises(CertificateError, match="Forbidden public key algorithm"):
        verifier.verify(PeerCertificate(issued.chain, CertificateSource.TLS))


def test_root_only_ca_signs_with_the_root(root_only_ca: CreatedCa) -> None:
    issued = issue_certificate(root_only_ca.authority(), CLIENT)
    issued.certificate.verify_directly_issued_by(root_only_ca.root.certificate)
    assert issued.chain == (issued.certificate,)
    assert issued.certificate.signature_hash_algorithm is not None
    assert issued.certificate.signature_hash_algorithm.name == "sha256"


def test_leaf_may_not_outlive_its_ca(ec_ca: CreatedCa) -> None:
    spec = LeafSpec(CLIENT.subject, validity=dt.timedelta(days=6 * 365))
    with pytest.raises(PkiError, match="requested validity ends after the issuing CA does"):
        issue_certificate(ec_ca.authority(), spec)


def test_expired_ca_cannot_issue() -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    created = create_ca(
        CaSpec(parse_subject("CN=Old CA"), validity=dt.timedelta(days=2), intermediate=False),
        now=past,
    )
    with pytest.raises(PkiError, match=r"the issuing CA \(CN=Old CA\) expired on"):
        issue_certificate(created.authority(), CLIENT)


def test_not_yet_valid_ca_cannot_issue(ec_ca: CreatedCa) -> None:
    before = ec_ca.root.certificate.not_valid_before_utc - dt.timedelta(days=1)
    with pytest.raises(PkiError, match="the issuing CA is not valid before"):
        issue_certificate(ec_ca.authority(), CLIENT, now=before)


def test_self_signed_client_is_not_a_ca_and_verifies_itself() -> None:
    issued = self_signed_certificate(CLIENT)
    cert = issued.certificate
    assert cert.issuer == cert.subject
    assert is_self_signed(cert)
    assert not _ext(cert, x509.BasicConstraints).value.ca
    assert list(_ext(cert, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == (
        _ext(cert, x509.SubjectKeyIdentifier).value.digest
    )
    assert issued.chain == (cert,)


def test_self_signed_refuses_an_empty_identity() -> None:
    with pytest.raises(PkiError, match="empty subject needs at least one SAN"):
        self_signed_certificate(LeafSpec(parse_subject("")))


def test_given_key_is_used(clients: dict[KeyType, IssuedCertificate]) -> None:
    key = clients[KeyType.EC_P256].private_key
    issued = self_signed_certificate(CLIENT, key=key)
    assert issued.private_key is key
