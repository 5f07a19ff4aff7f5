"""RFC 8705 §2.1: PKI path validation of a presented client certificate, plus CRL revocation.

Path building and the RFC 5280 checks are cryptography's ``x509.verification`` client verifier
(web-PKI profile; EKU must include ``clientAuth`` when present) with one relaxation: the leaf may
lack a subjectAltName, as many banking PKIs name clients by subject DN only (§2.1.2).

``CertificateError.reason``: when the presented certificates do not lead to a trust anchor,
``untrusted`` (the chain ends at a self-signed non-anchor, or a signature does not verify with the
named issuer) or ``chain_incomplete`` (an issuer was neither presented nor is an anchor: a missing
intermediate, or equally a foreign leaf sent without its CA). Otherwise ``expired`` /
``not_yet_valid`` (any certificate of the path, anchor included), ``wrong_eku``, and ``invalid``
for anything else the profile rejects (CA:TRUE leaf, extensions, weak keys, depth).

Chain completion: a TLS-terminating proxy may forward the leaf alone (nginx's
``$ssl_client_escaped_cert``). ``intermediates`` is a pool of CA certificates offered to path
building after the presented ones (RFC 5280 §6: the path may use any certificate the verifier
holds); they are never trust anchors, so a path must still end at one of the store.

Revocation (RFC 5280 §6.3; direct, complete CRLs only): for each certificate of the built path but
the anchor, the CRLs named after its issuer, signed by the issuer's key and allowed by its keyUsage
(cRLSign) are consulted; a listed serial is ``revoked`` (even from a stale CRL). No such CRL: not
checked. ``crl_policy="strict"`` (default) fails as ``untrusted`` when all such CRLs are past
their nextUpdate; ``"soft"`` accepts stale CRLs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from certbound.core.mtls.certificate import PeerCertificate

__all__ = [
    "CertificateError",
    "CertificateErrorReason",
    "ChainVerifier",
    "CrlPolicy",
    "TrustStore",
    "VerifiedChain",
]

CrlPolicy = Literal["strict", "soft"]
_T = TypeVar("_T")


class CertificateErrorReason(StrEnum):
    UNTRUSTED = "untrusted"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_EKU = "wrong_eku"
    REVOKED = "revoked"
    CHAIN_INCOMPLETE = "chain_incomplete"
    INVALID = "invalid"


def _one_line(text: str) -> str:
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _describe(cert: x509.Certificate) -> str:
    """The subject DN, quoted; ``repr`` escapes anything non-printable."""
    return repr(cert.subject.rfc4514_string())


class CertificateError(Exception):
    """A presented certificate was not accepted; ``str()`` names the certificate and the cause."""

    def __init__(self, reason: CertificateErrorReason, message: str) -> None:
        super().__init__(_one_line(message))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class TrustStore:
    """The configured CA certificates (trust anchors) and the CRLs to consult."""

    anchors: tuple[x509.Certificate, ...]
    crls: tuple[x509.CertificateRevocationList, ...] = ()

    def __post_init__(self) -> None:
        if not self.anchors:
            raise ValueError("a trust store needs at least one CA certificate")
        for cert in self.anchors:
            try:
                is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            except (x509.ExtensionNotFound, ValueError):
                is_ca = False
            if not is_ca:
                raise ValueError(f"trust anchor {_describe(cert)} is not a CA (basicConstraints)")

    @classmethod
    def from_pem(cls, pem: bytes, crls: Iterable[bytes] = ()) -> TrustStore:
        """Anchors from a PEM bundle; each CRL in PEM or DER. ``ValueError`` names what is wrong."""
        try:
            anchors = tuple(x509.load_pem_x509_certificates(pem))
        except ValueError as exc:
            raise ValueError(f"no PEM certificates could be read from the bundle: {exc}") from None
        return cls(anchors, tuple(_load_crl(data, n) for n, data in enumerate(crls, 1)))


def _load_crl(data: bytes, number: int) -> x509.CertificateRevocationList:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise ValueError(f"CRL #{number} is not a PEM or DER CRL: {exc}") from None


@dataclass(frozen=True, slots=True)
class VerifiedChain:
    """A peer certificate whose path to a trust anchor was validated; ``chain`` is leaf … anchor."""

    peer: PeerCertificate
    chain: tuple[x509.Certificate, ...]


class ChainVerifier:
    """Validates presented chains against a :class:`TrustStore` (RFC 5280 §6, RFC 8705 §2.1)."""

    __slots__ = ("_builder", "_crl_policy", "_intermediates", "_store")

    def __init__(
        self,
        store: TrustStore,
        *,
        intermediates: Iterable[x509.Certificate] = (),
        max_chain_depth: int = 8,
        crl_policy: CrlPolicy = "strict",
    ) -> None:
        """``intermediates``: CA certificates used to build paths, not trusted (module docstring)."""
        if not 1 <= max_chain_depth <= 255:
            raise ValueError(f"max_chain_depth must be 1..255, not {max_chain_depth}")
        if crl_policy not in ("strict", "soft"):
            raise ValueError(f"crl_policy must be 'strict' or 'soft', not {crl_policy!r}")
        ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
            x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
        )
        self._store = store
        self._intermediates = tuple(intermediates)
        self._crl_policy = crl_policy
        self._builder = (
            PolicyBuilder()
            .store(Store(list(store.anchors)))
            .max_chain_depth(max_chain_depth)
            .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
        )

    def verify(self, peer: PeerCertificate, *, at: dt.datetime | None = None) -> VerifiedChain:
        """Validate ``peer`` at ``at`` (default: now); raise :class:`CertificateError`."""
        if at is not None and at.tzinfo is None:
            raise ValueError("the verification time must be timezone-aware")
        at = at or dt.datetime.now(dt.UTC)
        verifier = self._builder.time(at).build_client_verifier()
        try:
            untrusted = [*peer.intermediates, *self._intermediates]
            chain = tuple(verifier.verify(peer.leaf, untrusted).chain)
        except VerificationError as exc:
            raise self._explain(peer, str(exc), at) from None
        self._check_revocation(chain, at)
        return VerifiedChain(peer, chain)

    def _explain(self, peer: PeerCertificate, cause: str, at: dt.datetime) -> CertificateError:
        """Turn a ``VerificationError`` into a reason (see the module docstring)."""
        cause = cause.split(" (encountered processing", 1)[0].removeprefix("validation failed: ")
        candidates = [*peer.intermediates, *self._intermediates, *self._store.anchors]
        path = _issuer_path(peer.leaf, candidates, self._store.anchors)
        what = f"client certificate {_describe(peer.leaf)}"
        if path[-1] not in self._store.anchors:
            return _no_path(what, path[-1], candidates)
        reason = CertificateErrorReason.INVALID
        if "not valid at validation time" in cause:
            for cert in path:
                if error := _validity_error(what, cert, at):
                    return error
        elif "EKU" in cause:
            reason = CertificateErrorReason.WRONG_EKU
        return CertificateError(reason, f"{what}: {cause}")

    def _check_revocation(self, chain: tuple[x509.Certificate, ...], at: dt.datetime) -> None:
        """RFC 5280 §6.3 with the CRLs of the store; see the module docstring."""
        for cert, issuer in itertools.pairwise(chain):
            crls = [crl for crl in self._store.crls if _crl_is_from(crl, issuer)]
            what, by = f"certificate {_describe(cert)}", _describe(issuer)
            if any(c.get_revoked_certificate_by_serial_number(cert.serial_number) for c in crls):
                why = f"serial {cert.serial_number:x} is listed in the CRL of {by}"
                raise CertificateError(CertificateErrorReason.REVOKED, f"{what}: {why}")
            stale = all(c.next_update_utc is not None and c.next_update_utc < at for c in crls)
            if crls and stale and self._crl_policy == "strict":
                why = f"revocation status unknown: every CRL of {by} is past its nextUpdate"
                raise CertificateError(CertificateErrorReason.UNTRUSTED, f"{what}: {why}")


def _validity_error(what: str, cert: x509.Certificate, at: dt.datetime) -> CertificateError | None:
    """RFC 5280 §4.1.2.5: EXPIRED or NOT_YET_VALID when ``at`` is outside the validity."""
    if at > cert.not_valid_after_utc:
        reason, state = CertificateErrorReason.EXPIRED, "expired"
    elif at < cert.not_valid_before_utc:
        reason, state = CertificateErrorReason.NOT_YET_VALID, "not yet valid"
    else:
        return None
    start, end = cert.not_valid_before_utc.isoformat(), cert.not_valid_after_utc.isoformat()
    why = f"{_describe(cert)} {state} at {at.isoformat()} (valid {start} to {end})"
    return CertificateError(reason, f"{what}: {why}")


def _no_path(
    what: str, top: x509.Certificate, candidates: list[x509.Certificate]
) -> CertificateError:
    """The presented chain stops at ``top`` before reaching a trust anchor."""
    if top.issuer == top.subject:
        why = f"the chain ends at self-signed {_describe(top)}, which is not a trust anchor"
    elif any(c.subject == top.issuer for c in candidates):
        why = f"the signature of {_describe(top)} does not verify with its issuer's key"
    else:
        issuer = repr(top.issuer.rfc4514_string())
        why = f"issuer {issuer} of {_describe(top)} was not presented and is not a trust anchor"
        return CertificateError(CertificateErrorReason.CHAIN_INCOMPLETE, f"{what}: {why}")
    return CertificateError(CertificateErrorReason.UNTRUSTED, f"{what}: {why}")


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issuer_path(
    leaf: x509.Certificate,
    candidates: list[x509.Certificate],
    anchors: tuple[x509.Certificate, ...],
) -> list[x509.Certificate]:
    """Leaf first, follow verified issuers among ``candidates`` up to an anchor or a dead end."""
    path = [leaf]
    while path[-1] not in anchors and path[-1].issuer != path[-1].subject:
        issuer = next((c for c in candidates if c not in path and _issued_by(path[-1], c)), None)
        if issuer is None:
            break
        path.append(issuer)
    return path


def _crl_is_from(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    if crl.issuer != issuer.subject:
        return False
    usage = next((e.value for e in issuer.extensions if isinstance(e.value, x509.KeyUsage)), None)
    if usage is not None and not usage.crl_sign:  # RFC 5280 §6.3.3 (f)
        return False
    return crl.is_signature_valid(issuer.public_key())  # type: ignore[arg-type]
