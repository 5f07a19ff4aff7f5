"""The CA as leaf issuance sees it: the certificates and the key of the one that signs."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509

from certbound.pki._build import IssuedCertificate
from certbound.pki.keys import PrivateKey

__all__ = ["CertificateAuthority", "CreatedCa"]


@dataclass(frozen=True, slots=True)
class CertificateAuthority:
    """A loaded CA: the root, the intermediate if any, and the key of the one that signs."""

    root: x509.Certificate
    intermediate: x509.Certificate | None
    signing_key: PrivateKey

    @property
    def issuer(self) -> x509.Certificate:
        return self.intermediate if self.intermediate is not None else self.root

    @property
    def intermediates(self) -> tuple[x509.Certificate, ...]:
        """What a leaf's chain file carries after the leaf (never the root)."""
        return (self.intermediate,) if self.intermediate is not None else ()


@dataclass(frozen=True, slots=True)
class CreatedCa:
    root: IssuedCertificate
    intermediate: IssuedCertificate | None

    def authority(self) -> CertificateAuthority:
        signer = self.intermediate or self.root
        inter = self.intermediate.certificate if self.intermediate else None
        return CertificateAuthority(self.root.certificate, inter, signer.private_key)
