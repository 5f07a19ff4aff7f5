"""Client, server and self-signed leaf certificates (RFC 5280 §4.2.1; RFC 8705 §2.1, §2.2).

Every leaf has ``CA:FALSE`` (critical), a key usage for signing (plus keyEncipherment for RSA),
SKI and AKI, an extended key usage of ``clientAuth`` or ``serverAuth`` and the requested SANs,
critical only when the subject is empty (RFC 5280 §4.2.1.6).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from certbound.pki._authority import CertificateAuthority
from certbound.pki._build import (
    IssuedCertificate,
    key_usage,
    now_utc,
    sign,
    start_builder,
    validity_window,
)
from certbound.pki._errors import PkiError
from certbound.pki._names import SubjectAltNames
from certbound.pki._output import OutputFile
from certbound.pki.keys import KeyType, PrivateKey, encode_private_key, generate_private_key

__all__ = [
    "DEFAULT_LEAF_VALIDITY",
    "IssuedCertificate",
    "LeafSpec",
    "Profile",
    "build_leaf",
    "issue_certificate",
    "leaf_files",
    "self_signed_certificate",
]

DEFAULT_LEAF_VALIDITY = dt.timedelta(days=90)


class Profile(StrEnum):
    """What a leaf is for: its extended key usage (RFC 5280 §4.2.1.12)."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def eku(self) -> x509.ExtendedKeyUsage:
        oid = (
            ExtendedKeyUsageOID.CLIENT_AUTH
            if self is Profile.CLIENT
            else ExtendedKeyUsageOID.SERVER_AUTH
        )
        return x509.ExtendedKeyUsage([oid])


@dataclass(frozen=True, slots=True)
class LeafSpec:
    """A leaf to issue. A server needs a DNS or IP SAN; a client may have none (bank PKIs)."""

    subject: x509.Name
    sans: SubjectAltNames = field(default_factory=SubjectAltNames)
    validity: dt.timedelta = DEFAULT_LEAF_VALIDITY
    key_type: KeyType = KeyType.EC_P256
    profile: Profile = Profile.CLIENT

    def check(self) -> None:
        """Raise :class:`PkiError` for a spec no verifier would accept."""
        if self.profile is Profile.SERVER and not (self.sans.dns or self.sans.ip):
            raise PkiError("a server certificate needs at least one --dns or --ip name")
        if len(self.subject) == 0 and not self.sans:
            raise PkiError("a certificate with an empty subject needs at least one SAN")

    def san_extension(self) -> x509.SubjectAlternativeName | None:
        return x509.SubjectAlternativeName(self.sans.general_names()) if self.sans else None


def build_leaf(
    *,
    subject: x509.Name,
    san: x509.SubjectAlternativeName | None,
    eku: x509.ExtendedKeyUsage | None,
    key: PrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    window: tuple[dt.datetime, dt.datetime],
) -> x509.Certificate:
    """Sign one end-entity certificate; ``issuer`` None makes it self-signed."""
    builder = (
        start_builder(subject, key, issuer, issuer_key, window)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage(key, ca=False), critical=True)
    )
    if eku is not None:
        builder = builder.add_extension(eku, critical=False)
    if san is not None:
        builder = builder.add_extension(san, critical=len(subject) == 0)
    return sign(builder, issuer_key)


def issue_certificate(
    ca: CertificateAuthority,
    spec: LeafSpec,
    *,
    now: dt.datetime | None = None,
    key: PrivateKey | None = None,
) -> IssuedCertificate:
    """A new key (unless ``key`` is given) and a leaf signed by the CA's issuing certificate."""
    spec.check()
    window = validity_window(now or now_utc(), spec.validity, ca.issuer)
    key = key or generate_private_key(spec.key_type)
    cert = build_leaf(
        subject=spec.subject,
        san=spec.san_extension(),
        eku=spec.profile.eku,
        key=key,
        issuer=ca.issuer,
        issuer_key=ca.signing_key,
        window=window,
    )
    return IssuedCertificate(cert, key, (cert, *ca.intermediates))


def self_signed_certificate(
    spec: LeafSpec, *, now: dt.datetime | None = None, key: PrivateKey | None = None
) -> IssuedCertificate:
    """A self-signed ``CA:FALSE`` leaf for ``self_signed_tls_client_auth`` (RFC 8705 §2.2)."""
    spec.check()
    window = validity_window(now or now_utc(), spec.validity, None)
    key = key or generate_private_key(spec.key_type)
    cert = build_leaf(
        subject=spec.subject,
        san=spec.san_extension(),
        eku=spec.profile.eku,
        key=key,
        issuer=None,
        issuer_key=key,
        window=window,
    )
    return IssuedCertificate(cert, key, (cert,))


def leaf_files(
    prefix: str, issued: IssuedCertificate, passphrase: bytes | None, *, chain: bool = True
) -> list[OutputFile]:
    """``PREFIX.key`` (PKCS#8, 0600), ``PREFIX.pem`` (the leaf) and ``PREFIX-chain.pem``
    (leaf and intermediates, no root: what a TLS client sends)."""
    files = [
        OutputFile(Path(f"{prefix}.key"), encode_private_key(issued.private_key, passphrase), True),
        OutputFile(Path(f"{prefix}.pem"), issued.certificate_pem()),
    ]
    if chain:
        files.append(OutputFile(Path(f"{prefix}-chain.pem"), issued.chain_pem()))
    return files
