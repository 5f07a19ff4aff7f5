"""A root CA and an optional intermediate (RFC 5280 §4.2.1.9 basic constraints, §4.2.1.10 names).

:func:`create_ca` makes the certificates and keys; :func:`ca_files`, :func:`write_ca` and
:func:`load_ca` handle the CA directory.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

from certbound.pki._authority import CertificateAuthority, CreatedCa
from certbound.pki._build import (
    IssuedCertificate,
    key_usage,
    now_utc,
    sign,
    start_builder,
    validity_window,
)
from certbound.pki._ca_files import CA_FILES, ca_files, load_ca, write_ca
from certbound.pki._constraints import NameConstraintsSpec
from certbound.pki._errors import PkiError
from certbound.pki.keys import KeyType, PrivateKey, generate_private_key

__all__ = [
    "CA_FILES",
    "CaSpec",
    "CertificateAuthority",
    "CreatedCa",
    "NameConstraintsSpec",
    "ca_files",
    "create_ca",
    "default_intermediate_subject",
    "load_ca",
    "write_ca",
]

ROOT_VALIDITY = dt.timedelta(days=10 * 365)
INTERMEDIATE_VALIDITY = dt.timedelta(days=5 * 365)


@dataclass(frozen=True, slots=True)
class CaSpec:
    """What :func:`create_ca` builds. ``path_length`` None means 1 with an intermediate, else 0."""

    subject: x509.Name
    key_type: KeyType = KeyType.EC_P256
    validity: dt.timedelta = ROOT_VALIDITY
    intermediate: bool = True
    intermediate_subject: x509.Name | None = None
    intermediate_validity: dt.timedelta | None = None
    path_length: int | None = None
    name_constraints: NameConstraintsSpec = field(default_factory=NameConstraintsSpec)


def default_intermediate_subject(root: x509.Name) -> x509.Name:
    """The root's name with ``Root`` in its CN turned into ``Intermediate`` (or appended)."""
    attrs = list(root)
    for i, attr in enumerate(attrs):
        if attr.oid == NameOID.COMMON_NAME and isinstance(attr.value, str):
            cn = attr.value
            new = cn.replace("Root", "Intermediate") if "Root" in cn else f"{cn} Intermediate"
            attrs[i] = x509.NameAttribute(NameOID.COMMON_NAME, new[:64])
            return x509.Name(attrs)
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate CA")])


def _ca_cert(
    subject: x509.Name,
    key: PrivateKey,
    issuer: IssuedCertificate | None,
    window: tuple[dt.datetime, dt.datetime],
    path_length: int,
    constraints: x509.NameConstraints | None,
) -> x509.Certificate:
    issuer_key = issuer.private_key if issuer else key
    builder = start_builder(
        subject, key, issuer.certificate if issuer else None, issuer_key, window
    ).add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    builder = builder.add_extension(key_usage(key, ca=True), critical=True)
    if constraints is not None:
        builder = builder.add_extension(constraints, critical=True)  # MUST be critical
    return sign(builder, issuer_key)


def _check_spec(spec: CaSpec) -> tuple[int, dt.timedelta]:
    path_length = spec.path_length
    if path_length is None:
        path_length = 1 if spec.intermediate else 0
    if path_length < 0:
        raise PkiError("--path-length must be 0 or more")
    if spec.intermediate and path_length < 1:
        raise PkiError(
            "a root with path length 0 cannot have an intermediate: use --no-intermediate"
        )
    inter_validity = spec.intermediate_validity or min(INTERMEDIATE_VALIDITY, spec.validity)
    if spec.intermediate and inter_validity > spec.validity:
        raise PkiError("the intermediate cannot be valid for longer than the root")
    return path_length, inter_validity


def create_ca(spec: CaSpec, *, now: dt.datetime | None = None) -> CreatedCa:
    """Generate the root (self-signed) and, unless disabled, one intermediate signed by it."""
    path_length, inter_validity = _check_spec(spec)
    start = now or now_utc()
    constraints = spec.name_constraints.extension()
    root_key = generate_private_key(spec.key_type)
    root_window = validity_window(start, spec.validity, None)
    root_cert = _ca_cert(spec.subject, root_key, None, root_window, path_length, constraints)
    root = IssuedCertificate(root_cert, root_key, (root_cert,))
    if not spec.intermediate:
        return CreatedCa(root, None)
    inter_key = generate_private_key(spec.key_type)
    subject = spec.intermediate_subject or default_intermediate_subject(spec.subject)
    window = validity_window(start, inter_validity, root_cert)
    inter_cert = _ca_cert(subject, inter_key, root, window, 0, constraints)
    return CreatedCa(root, IssuedCertificate(inter_cert, inter_key, (inter_cert, root_cert)))
