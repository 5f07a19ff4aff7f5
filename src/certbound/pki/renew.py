"""Renewal: a new key and a certificate that repeats the old one (RFC 5280 §4.1.2.5 validity).

The new certificate keeps the subject, the SAN extension, the extended key usage, the key type
and the validity length; it starts now, so it overlaps the old one until that expires.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from certbound.pki._authority import CertificateAuthority
from certbound.pki._build import IssuedCertificate, now_utc, validity_window
from certbound.pki._errors import PkiError
from certbound.pki.issue import build_leaf
from certbound.pki.keys import KeyType, generate_private_key, key_type_of

__all__ = ["has_expired", "is_ca_certificate", "is_self_signed", "renew_certificate"]

_E = TypeVar("_E", bound=x509.ExtensionType)


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when ``cert`` names itself as issuer and its signature verifies with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def is_ca_certificate(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def has_expired(cert: x509.Certificate, now: dt.datetime | None = None) -> bool:
    return (now or now_utc()) > cert.not_valid_after_utc


def _optional(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_issuer(cert: x509.Certificate, ca: CertificateAuthority | None) -> None:
    subject = cert.subject.rfc4514_string()
    if is_self_signed(cert):
        if ca is not None:
            raise PkiError(f"the certificate ({subject}) is self-signed: renew it without --ca")
        return
    if ca is None:
        raise PkiError(f"the certificate was issued by {cert.issuer.rfc4514_string()}: give --ca")
    try:
        cert.verify_directly_issued_by(ca.issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise PkiError(
            f"the certificate was issued by {cert.issuer.rfc4514_string()}, "
            f"not by this CA ({ca.issuer.subject.rfc4514_string()})"
        ) from None


def renew_certificate(
    cert: x509.Certificate,
    ca: CertificateAuthority | None,
    *,
    now: dt.datetime | None = None,
    key_type: KeyType | None = None,
) -> IssuedCertificate:
    """Issue the successor of ``cert``: by ``ca``, or self-signed when ``cert`` is self-signed."""
    if is_ca_certificate(cert):
        raise PkiError("the certificate is a CA certificate: make a new CA with `pki init-ca`")
    _check_issuer(cert, ca)
    if key_type is None:
        try:
            key_type = key_type_of(cert.public_key())
        except PkiError as exc:
            raise PkiError(f"{exc}: choose a new one with --key-type") from None
    key = generate_private_key(key_type)
    length = cert.not_valid_after_utc - cert.not_valid_before_utc
    issuer = ca.issuer if ca is not None else None
    start = now or now_utc()
    window = validity_window(start, length, issuer)
    window = (window[0], window[0] + length)  # the same length exactly, not + the backdate
    new = build_leaf(
        subject=cert.subject,
        san=_optional(cert, x509.SubjectAlternativeName),
        eku=_optional(cert, x509.ExtendedKeyUsage),
        key=key,
        issuer=issuer,
        issuer_key=ca.signing_key if ca is not None else key,
        window=window,
    )
    chain = (new, *ca.intermediates) if ca is not None else (new,)
    return IssuedCertificate(new, key, chain)
