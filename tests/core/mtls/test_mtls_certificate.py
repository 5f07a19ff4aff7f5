"""RFC 8705 §3.1: the x5t#S256 thumbprint and the PeerCertificate input value."""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certbound.core.mtls.certificate import (
    X5T_S256,
    CertificateSource,
    PeerCertificate,
    thumbprints_equal,
    x5t_s256,
    x5t_s256_der,
)

if TYPE_CHECKING:
    from cryptography import x509

    from conftest import TestPKI


def openssl_x5t_s256(cert: x509.Certificate) -> str:
    """openssl x509 -outform DER | openssl dgst -sha256 -binary | basenc --base64url, no '='."""
    pem = cert.public_bytes(Encoding.PEM)
    der = subprocess.run(["openssl", "x509", "-outform", "DER"], input=pem, capture_output=True, check=True).stdout  # fmt: skip
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True).stdout  # fmt: skip
    b64 = subprocess.run(["basenc", "--base64url"], input=digest, capture_output=True, check=True).stdout  # fmt: skip
    return b64.decode("ascii").strip().rstrip("=")


@pytest.mark.parametrize("which", ["client", "root", "intermediate", "self_signed", "server"])
def test_x5t_s256_equals_the_openssl_computation(pki: TestPKI, which: str) -> None:
    cert = getattr(pki, which).cert
    expected = openssl_x5t_s256(cert)
    assert len(expected) == 43
    assert x5t_s256(cert) == expected
    assert x5t_s256_der(cert.public_bytes(Encoding.DER)) == expected


def test_x5t_s256_der_is_unpadded_base64url_sha256() -> None:
    # SHA-256 of the empty string, base64url without padding (RFC 4648 §5).
    assert x5t_s256_der(b"") == "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU"
    assert X5T_S256 == "x5t#S256"


def test_distinct_certificates_have_distinct_thumbprints(pki: TestPKI) -> None:
    assert x5t_s256(pki.client.cert) != x5t_s256(pki.other_client.cert)


def test_peer_from_pem_chain_keeps_leaf_first(pki: TestPKI) -> None:
    pems = [c.public_bytes(Encoding.PEM).decode() for c in pki.client.chain]
    p = PeerCertificate.from_pem_chain(pems, CertificateSource.TLS)
    assert p.leaf == pki.client.cert
    assert p.intermediates == (pki.intermediate.cert,)
    assert p.thumbprint == x5t_s256(pki.client.cert)
    assert p.source is CertificateSource.TLS


def test_peer_from_der_chain_keeps_leaf_first(pki: TestPKI) -> None:
    ders = tuple(c.public_bytes(Encoding.DER) for c in pki.client.chain)
    p = PeerCertificate.from_der_chain(ders, CertificateSource.RFC9440)
    assert p.chain == pki.client.chain
    assert p.thumbprint == x5t_s256(pki.client.cert)
    assert p == PeerCertificate(pki.client.chain, CertificateSource.RFC9440)


@pytest.mark.parametrize(
    "pems",
    [[], ["garbage"], ["-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"], ["é"]],
)
def test_peer_from_pem_chain_rejects_bad_input(pems: list[str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are cryptography's
        PeerCertificate.from_pem_chain(pems, CertificateSource.TLS)


@pytest.mark.parametrize("ders", [(), (b"",), (b"junk",), (b"\x30\x03\x02\x01\x01",)])
def test_peer_from_der_chain_rejects_bad_input(ders: tuple[bytes, ...]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are cryptography's
        PeerCertificate.from_der_chain(ders, CertificateSource.TLS)


def test_peer_without_a_leaf_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least the leaf"):
        PeerCertificate((), CertificateSource.TLS)


def test_a_bad_certificate_after_a_good_leaf_is_rejected(pki: TestPKI) -> None:
    ders = (pki.client.cert.public_bytes(Encoding.DER), b"junk")
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are cryptography's
        PeerCertificate.from_der_chain(ders, CertificateSource.TLS)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", True),
        ("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFV", False),
        ("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuF", False),
        ("47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU", "47deqpj8hbsa-_timw-5jceuqerkm5nmpjwzg3hsufu", False),
        ("", "", True),
        ("é", "x", False),
    ],
)  # fmt: skip
def test_thumbprints_equal_compares_exactly(a: str, b: str, equal: bool) -> None:
    assert thumbprints_equal(a, b) is equal


def test_thumbprints_equal_does_not_confuse_non_ascii_with_question_mark() -> None:
    assert thumbprints_equal("é", "?") is False
