"""The client certificate as the protocol core sees it (RFC 8705 §2, §3.1).

A :class:`PeerCertificate` is the chain a client presented (leaf first), however it reached us:
from the TLS layer or from a trusted proxy's header. It is *input*, never a verdict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

__all__ = [
    "X5T_S256",
    "CertificateSource",
    "PeerCertificate",
    "thumbprints_equal",
    "x5t_s256",
    "x5t_s256_der",
]

X5T_S256 = "x5t#S256"


class CertificateSource(StrEnum):
    """Where a presented certificate came from."""

    TLS = "tls"  # the TLS layer of certbound itself (ASGI TLS extension)
    RFC9440 = "rfc9440"  # Client-Cert / Client-Cert-Chain from a trusted proxy
    NGINX = "nginx"  # nginx $ssl_client_escaped_cert from a trusted proxy
    XFCC = "xfcc"  # Envoy x-forwarded-client-cert from a trusted proxy


def x5t_s256_der(der: bytes) -> str:
    """RFC 8705 §3.1: base64url (no padding) SHA-256 of the DER certificate."""
    digest = hashlib.sha256(der).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def x5t_s256(cert: x509.Certificate) -> str:
    return x5t_s256_der(cert.public_bytes(Encoding.DER))


def thumbprints_equal(a: str, b: str) -> bool:
    """Constant-time comparison of two thumbprints (RFC 8705 §7.2)."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class PeerCertificate:
    """A presented certificate chain, leaf first, and where it came from."""

    chain: tuple[x509.Certificate, ...]
    source: CertificateSource
    thumbprint: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.chain:
            raise ValueError("a peer certificate chain needs at least the leaf")
        object.__setattr__(self, "thumbprint", x5t_s256(self.chain[0]))

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        return self.chain[1:]

    @classmethod
    def from_der_chain(
        cls, ders: list[bytes] | tuple[bytes, ...], source: CertificateSource
    ) -> PeerCertificate:
        """Build from DER certificates, leaf first. Raises ``ValueError`` on malformed input."""
        return cls(tuple(x509.load_der_x509_certificate(d) for d in ders), source)

    @classmethod
    def from_pem_chain(
        cls, pems: list[str] | tuple[str, ...], source: CertificateSource
    ) -> PeerCertificate:
        """Build from PEM strings, one certificate each, leaf first (ASGI TLS extension shape)."""
        return cls(tuple(x509.load_pem_x509_certificate(p.encode("ascii")) for p in pems), source)
