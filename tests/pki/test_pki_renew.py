"""Renewal keeps subject, SANs, EKU, key type and validity length; the key and serial are new."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from certbound.pki import (
    CaSpec,
    CreatedCa,
    KeyType,
    LeafSpec,
    PkiError,
    Profile,
    SubjectAltNames,
    create_ca,
    has_expired,
    is_self_signed,
    issue_certificate,
    key_type_of,
    parse_subject,
    renew_certificate,
    self_signed_certificate,
)
from certbound.pki.issue import build_leaf
from certbound.pki.renew import is_ca_certificate
from testpki import make_leaf

SPEC = LeafSpec(
    parse_subject("CN=client-1,O=Acme"),
    SubjectAltNames.parse(dns=["c1.example"], uri=["spiffe://acme/c1"]),
    validity=dt.timedelta(days=30),
    key_type=KeyType.EC_P384,
)


def _ext(cert: x509.Certificate, kind: type) -> x509.Extension:  # type: ignore[type-arg]
    return cert.extensions.get_extension_for_class(kind)


def _span(cert: x509.Certificate) -> dt.timedelta:
    return cert.not_valid_after_utc - cert.not_valid_before_utc


def test_renewal_repeats_the_certificate_with_a_new_key(ec_ca: CreatedCa) -> None:
    authority = ec_ca.authority()
    old = issue_certificate(authority, SPEC)
    new = renew_certificate(old.certificate, authority)
    a, b = old.certificate, new.certificate
    assert b.subject == a.subject
    assert _ext(b, x509.SubjectAlternativeName) == _ext(a, x509.SubjectAlternativeName)
    assert _ext(b, x509.ExtendedKeyUsage) == _ext(a, x509.ExtendedKeyUsage)
    assert key_type_of(b.public_key()) is KeyType.EC_P384
    assert b.public_key() != a.public_key()
    assert b.serial_number != a.serial_number
    assert _span(b) == _span(a)
    assert b.not_valid_after_utc >= a.not_valid_after_utc  # overlaps, then outlives the old one
    b.verify_directly_issued_by(authority.issuer)
    assert new.chain == (b, authority.issuer)


def test_renewal_keeps_server_auth(ec_ca: CreatedCa) -> None:
    spec = LeafSpec(
        parse_subject("CN=srv"), SubjectAltNames.parse(ip=["10.1.2.3"]), profile=Profile.SERVER
    )
    old = issue_certificate(ec_ca.authority(), spec).certificate
    new = renew_certificate(old, ec_ca.authority()).certificate
    assert list(_ext(new, x509.ExtendedKeyUsage).value) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_self_signed_renews_self_signed() -> None:
    old = self_signed_certificate(SPEC).certificate
    new = renew_certificate(old, None)
    assert is_self_signed(new.certificate)
    assert new.chain == (new.certificate,)
    assert new.certificate.subject == old.subject


def test_renewal_can_change_the_key_type(ec_ca: CreatedCa) -> None:
    old = issue_certificate(ec_ca.authority(), SPEC).certificate
    new = renew_certificate(old, ec_ca.authority(), key_type=KeyType.ED25519)
    assert key_type_of(new.private_key) is KeyType.ED25519


def test_expired_certificate_still_renews() -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
    authority = create_ca(CaSpec(parse_subject("CN=Old Root")), now=past).authority()
    old = issue_certificate(authority, SPEC, now=past).certificate
    assert has_expired(old)
    new = renew_certificate(old, authority).certificate
    assert not has_expired(new)
    assert _span(new) == _span(old)


def test_certificate_without_eku_or_san_renews_without_them(ec_ca: CreatedCa) -> None:
    authority = ec_ca.authority()
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    old = build_leaf(
        subject=parse_subject("CN=bare"),
        san=None,
        eku=None,
        key=key,
        issuer=authority.issuer,
        issuer_key=authority.signing_key,
        window=(now, now + dt.timedelta(days=1)),
    )
    new = renew_certificate(old, authority).certificate
    for kind in (x509.ExtendedKeyUsage, x509.SubjectAlternativeName):
        with pytest.raises(x509.ExtensionNotFound):
            _ext(new, kind)


def test_ca_certificates_are_not_renewed(ec_ca: CreatedCa) -> None:
    assert is_ca_certificate(ec_ca.root.certificate)
    with pytest.raises(PkiError, match="is a CA certificate: make a new CA with `pki init-ca`"):
        renew_certificate(ec_ca.root.certificate, None)


def test_self_signed_with_a_ca_is_refused(ec_ca: CreatedCa) -> None:
    old = self_signed_certificate(SPEC).certificate
    with pytest.raises(PkiError, match="is self-signed: renew it without --ca"):
        renew_certificate(old, ec_ca.authority())


def test_ca_issued_without_a_ca_is_refused(ec_ca: CreatedCa) -> None:
    old = issue_certificate(ec_ca.authority(), SPEC).certificate
    with pytest.raises(PkiError, match="issued by CN=Test Intermediate CA,O=Acme: give --ca"):
        renew_certificate(old, None)


def test_renewal_by_another_ca_is_refused(ec_ca: CreatedCa, root_only_ca: CreatedCa) -> None:
    old = issue_certificate(ec_ca.authority(), SPEC).certificate
    with pytest.raises(PkiError, match=r"not by this CA \(CN=Solo CA\)"):
        renew_certificate(old, root_only_ca.authority())


def test_same_name_but_other_key_is_not_this_ca(ec_ca: CreatedCa) -> None:
    """An issuer DN match is not enough: the signature must verify."""
    impostor = make_leaf(None, parse_subject("CN=Test Intermediate CA,O=Acme"))
    assert impostor.cert.subject == ec_ca.authority().issuer.subject
    old = make_leaf(None, "x").cert
    fake = build_leaf(
        subject=old.subject,
        san=None,
        eku=None,
        key=impostor.key,
        issuer=impostor.cert,
        issuer_key=impostor.key,
        window=(old.not_valid_before_utc, old.not_valid_after_utc),
    )
    with pytest.raises(PkiError, match="not by this CA"):
        renew_certificate(fake, ec_ca.authority())


def test_unsupported_key_type_asks_for_key_type(ec_ca: CreatedCa) -> None:
    authority = ec_ca.authority()
    now = dt.datetime.now(dt.UTC)
    old = build_leaf(
        subject=parse_subject("CN=p521"),
        san=None,
        eku=None,
        key=ec.generate_private_key(ec.SECP521R1()),
        issuer=authority.issuer,
        issuer_key=authority.signing_key,
        window=(now, now + dt.timedelta(days=1)),
    )
    with pytest.raises(PkiError, match="EC curve secp521r1: choose a new one with --key-type"):
        renew_certificate(old, authority)
    new = renew_certificate(old, authority, key_type=KeyType.EC_P256)
    assert key_type_of(new.private_key) is KeyType.EC_P256
