"""Pieces shared by every certificate certbound builds (RFC 5280 §4.1, §4.2.1)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from certbound.pki._errors import PkiError
from certbound.pki.keys import PrivateKey, signature_hash

__all__ = [
    "BACKDATE",
    "IssuedCertificate",
    "key_usage",
    "now_utc",
    "sign",
    "start_builder",
    "validity_window",
]

BACKDATE = dt.timedelta(minutes=5)
"""notBefore is set this far in the past so verifiers with a slow clock accept a new cert."""


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """A new certificate, its private key, and the chain a TLS peer sends (leaf first, no root)."""

    certificate: x509.Certificate
    private_key: PrivateKey
    chain: tuple[x509.Certificate, ...]

    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def validity_window(
    now: dt.datetime, validity: dt.timedelta, issuer: x509.Certificate | None
) -> tuple[dt.datetime, dt.datetime]:
    """(notBefore, notAfter) for a certificate valid ``validity`` from ``now`` (RFC 5280 §4.1.2.5).

    Refuses a window the issuer does not cover: a certificate outliving its CA fails validation.
    """
    not_before, not_after = now - BACKDATE, now + validity
    if issuer is not None:
        if now >= issuer.not_valid_after_utc:
            when = issuer.not_valid_after_utc.date().isoformat()
            raise PkiError(f"the issuing CA ({issuer.subject.rfc4514_string()}) expired on {when}")
        if now < issuer.not_valid_before_utc:
            when = issuer.not_valid_before_utc.isoformat(sep=" ")
            raise PkiError(f"the issuing CA is not valid before {when}")
        if not_after > issuer.not_valid_after_utc:
            when = issuer.not_valid_after_utc.isoformat(sep=" ")
            raise PkiError(
                f"the requested validity ends after the issuing CA does ({when}): ask for less"
            )
        not_before = max(not_before, issuer.not_valid_before_utc)
    return not_before, not_after


def key_usage(key: PrivateKey, *, ca: bool) -> x509.KeyUsage:
    """RFC 5280 §4.2.1.3: CAs sign certs and CRLs; leaves sign, and RSA leaves also encipher."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca and isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def start_builder(
    subject: x509.Name,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    window: tuple[dt.datetime, dt.datetime],
) -> x509.CertificateBuilder:
    """Subject, issuer, key, a random 159-bit serial (§4.1.2.2), validity, SKI and AKI (§4.2.1.1-2)."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(window[0])
        .not_valid_after(window[1])
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_id(issuer, issuer_key), critical=False)
    )


def _authority_key_id(
    issuer: x509.Certificate | None, issuer_key: PrivateKey
) -> x509.AuthorityKeyIdentifier:
    if issuer is not None:
        try:
            ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        except x509.ExtensionNotFound:
            pass
        else:
            return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key())


def sign(builder: x509.CertificateBuilder, key: PrivateKey) -> x509.Certificate:
    return builder.sign(key, signature_hash(key))
