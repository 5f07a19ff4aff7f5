"""Describe certificates and bundles: names, validity, key, usages, thumbprints, chain order.

``x5t#S256`` is the RFC 8705 §3.1 thumbprint; ``spki_sha256`` is the base64 SHA-256 of the
SubjectPublicKeyInfo (the RFC 7469 pin), which stays the same across a renewal with the same key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certbound.core.mtls.certificate import X5T_S256, x5t_s256
from certbound.pki._build import now_utc
from certbound.pki._durations import format_duration
from certbound.pki.renew import is_self_signed

__all__ = [
    "BundleDescription",
    "CertificateDescription",
    "describe_bundle",
    "describe_certificate",
    "spki_sha256",
    "validity_status",
]

_E = TypeVar("_E", bound=x509.ExtensionType)
_CURVES = {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


@dataclass(frozen=True, slots=True)
class CertificateDescription:
    """Everything ``pki inspect`` shows about one certificate (JSON-ready via :meth:`to_json`)."""

    subject: str
    issuer: str
    serial: str
    sans: dict[str, list[str]]
    not_before: dt.datetime
    not_after: dt.datetime
    seconds_left: int
    status: str
    key_type: str
    key_size: int
    signature_algorithm: str
    extended_key_usage: list[str]
    ca: bool
    path_length: int | None
    key_usage: list[str]
    self_signed: bool
    x5t_s256: str
    spki_sha256: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["not_before"] = self.not_before.isoformat()
        out["not_after"] = self.not_after.isoformat()
        out[X5T_S256] = out.pop("x5t_s256")
        return out


@dataclass(frozen=True, slots=True)
class ChainLink:
    subject: str
    issuer: str
    issued_by_next: bool  # the next certificate in the file signed this one


@dataclass(frozen=True, slots=True)
class BundleDescription:
    certificates: tuple[CertificateDescription, ...]
    chain: tuple[ChainLink, ...] = field(default=())
    leaf_first: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "certificates": [c.to_json() for c in self.certificates],
            "chain": [asdict(link) for link in self.chain],
            "leaf_first": self.leaf_first,
        }


def spki_sha256(cert: x509.Certificate) -> str:
    """Standard base64 SHA-256 of the DER SubjectPublicKeyInfo (RFC 7469 §2.4 pin-sha256)."""
    spki = cert.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode("ascii")


def validity_status(cert: x509.Certificate, now: dt.datetime) -> tuple[int, str]:
    """(seconds left, words): ``valid, 89 days left`` / ``expired 3 days ago`` / ``not yet valid``."""
    left = cert.not_valid_after_utc - now
    if now < cert.not_valid_before_utc:
        return int(left.total_seconds()), (
            f"not yet valid (starts in {format_duration(cert.not_valid_before_utc - now)})"
        )
    if left.total_seconds() < 0:
        return int(left.total_seconds()), f"expired {format_duration(left)} ago"
    return int(left.total_seconds()), f"valid, {format_duration(left)} left"


def _key(cert: x509.Certificate) -> tuple[str, int]:
    key = cert.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        curve = _CURVES.get(key.curve.name, key.curve.name)
        return f"ec-{curve}", key.curve.key_size
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "ed448", 456
    return type(key).__name__, 0


def _ext(cert: x509.Certificate, kind: type[_E]) -> _E | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _sans(cert: x509.Certificate) -> dict[str, list[str]]:
    san = _ext(cert, x509.SubjectAlternativeName)
    if san is None:
        return {}
    out: dict[str, list[str]] = {}
    kinds: dict[type[x509.GeneralName], str] = {
        x509.DNSName: "dns",
        x509.UniformResourceIdentifier: "uri",
        x509.IPAddress: "ip",
        x509.RFC822Name: "email",
        x509.DirectoryName: "dirname",
    }
    for name in san:
        out.setdefault(kinds.get(type(name), "other"), []).append(_san_text(name))
    return out


def _san_text(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DirectoryName):
        return name.value.rfc4514_string()
    if isinstance(name, x509.RegisteredID):
        return f"registeredID:{name.value.dotted_string}"
    if isinstance(name, x509.OtherName):
        return f"otherName:{name.type_id.dotted_string}"
    return str(name.value)


def _key_usage(cert: x509.Certificate) -> list[str]:
    usage = _ext(cert, x509.KeyUsage)
    if usage is None:
        return []
    names = [n for n in _KEY_USAGES if getattr(usage, n)]
    if usage.key_agreement:
        names += [n for n in ("encipher_only", "decipher_only") if getattr(usage, n)]
    return names


def _eku(cert: x509.Certificate) -> list[str]:
    eku = _ext(cert, x509.ExtendedKeyUsage)
    return [getattr(oid, "_name", oid.dotted_string) for oid in eku] if eku is not None else []


def describe_certificate(
    cert: x509.Certificate, *, now: dt.datetime | None = None
) -> CertificateDescription:
    constraints = _ext(cert, x509.BasicConstraints)
    seconds_left, status = validity_status(cert, now or now_utc())
    key_type, key_size = _key(cert)
    sig = cert.signature_algorithm_oid
    return CertificateDescription(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        sans=_sans(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        seconds_left=seconds_left,
        status=status,
        key_type=key_type,
        key_size=key_size,
        signature_algorithm=getattr(sig, "_name", sig.dotted_string),
        extended_key_usage=_eku(cert),
        ca=constraints.ca if constraints is not None else False,
        path_length=constraints.path_length if constraints is not None else None,
        key_usage=_key_usage(cert),
        self_signed=is_self_signed(cert),
        x5t_s256=x5t_s256(cert),
        spki_sha256=spki_sha256(cert),
    )


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def describe_bundle(
    certs: tuple[x509.Certificate, ...] | list[x509.Certificate], *, now: dt.datetime | None = None
) -> BundleDescription:
    """Describe each certificate and the order: leaf-first when each is signed by the next."""
    at = now or now_utc()
    links = tuple(
        ChainLink(
            subject=c.subject.rfc4514_string(),
            issuer=c.issuer.rfc4514_string(),
            issued_by_next=i + 1 < len(certs) and _signed_by(c, certs[i + 1]),
        )
        for i, c in enumerate(certs)
    )
    leaf_first = all(link.issued_by_next for link in links[:-1])
    return BundleDescription(
        tuple(describe_certificate(c, now=at) for c in certs), links, leaf_first
    )
