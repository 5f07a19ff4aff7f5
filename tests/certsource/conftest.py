"""Helpers for the certificate-source tests: PEM/DER of the run-time PKI's certificates."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from testpki import Issued, make_leaf


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


@pytest.fixture(scope="session")
def csr_der(pki: object) -> bytes:
    """Valid DER that is a certificate request, not a certificate."""
    key = make_leaf(None, "csr-subject").key
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "csr")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(Encoding.DER)


@pytest.fixture(scope="session")
def huge_leaf() -> Issued:
    """A real self-signed certificate larger than 64 KiB (thousands of SAN dNSNames)."""
    names = tuple(f"host-{i:05d}.a-rather-long-subdomain.example.com" for i in range(1500))
    issued = make_leaf(None, "huge", dns=names)
    assert len(der(issued.cert)) > 64 * 1024
    return issued
