"""PEM, DER, PKCS#12 (RFC 7292) and JWK with x5c (RFC 7517 §4.7, RFC 7638 kid)."""

from __future__ import annotations

import base64
import re

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from joserfc.jwk import thumbprint

from certbound.core.mtls import x5t_s256
from certbound.pki import (
    CreatedCa,
    IssuedCertificate,
    KeyType,
    LeafSpec,
    PkiError,
    export_der,
    export_jwk,
    export_pem,
    export_pkcs12,
    generate_private_key,
    issue_certificate,
    parse_subject,
    self_signed_certificate,
)
from testpki import make_leaf

SPEC = LeafSpec(parse_subject("CN=client-1,O=Acme"))


@pytest.fixture(scope="module")
def issued(ec_ca: CreatedCa) -> IssuedCertificate:
    return issue_certificate(ec_ca.authority(), SPEC)


def test_pem_keeps_every_certificate_in_order(issued: IssuedCertificate) -> None:
    assert x509.load_pem_x509_certificates(export_pem(issued.chain)) == list(issued.chain)


def test_der_is_the_leaf(issued: IssuedCertificate) -> None:
    assert x509.load_der_x509_certificate(export_der(issued.certificate)) == issued.certificate


def test_jwk_carries_the_chain_and_rfc7638_kid(issued: IssuedCertificate) -> None:
    jwk = export_jwk(issued.chain)
    public = {k: v for k, v in jwk.items() if k in ("kty", "crv", "x", "y")}
    assert jwk["kid"] == thumbprint(public)
    assert jwk["kty"] == "EC"
    assert jwk["crv"] == "P-256"
    assert jwk["alg"] == "ES256"
    assert "use" not in jwk
    assert "d" not in jwk
    assert [x509.load_der_x509_certificate(base64.b64decode(c)) for c in jwk["x5c"]] == list(
        issued.chain
    )
    assert jwk["x5t#S256"] == x5t_s256(issued.certificate)


@pytest.mark.parametrize(
    ("key_type", "kty", "alg"),
    [
        (KeyType.EC_P384, "EC", "ES384"),
        (KeyType.RSA_2048, "RSA", None),
        (KeyType.ED25519, "OKP", None),
    ],
)
def test_jwk_alg_only_where_the_key_admits_one(
    key_type: KeyType, kty: str, alg: str | None
) -> None:
    cert = self_signed_certificate(LeafSpec(SPEC.subject, key_type=key_type)).certificate
    jwk = export_jwk((cert,))
    assert jwk["kty"] == kty
    assert jwk.get("alg") == alg
    members = {"EC": ("kty", "crv", "x", "y"), "RSA": ("kty", "n", "e"), "OKP": ("kty", "crv", "x")}
    assert jwk["kid"] == thumbprint({k: jwk[k] for k in members[kty]})


def test_jwk_of_p521_has_no_alg() -> None:
    leaf = make_leaf(None, "p521", key=ec.generate_private_key(ec.SECP521R1()))  # type: ignore[arg-type]
    assert "alg" not in export_jwk((leaf.cert,))


def test_pkcs12_holds_key_leaf_and_chain(issued: IssuedCertificate) -> None:
    data = export_pkcs12(issued.private_key, issued.chain, b"p12-pass", friendly_name="client-1")
    key, cert, extra = pkcs12.load_key_and_certificates(data, b"p12-pass")
    assert cert == issued.certificate
    assert extra == list(issued.chain[1:])
    assert key is not None
    assert key.public_key() == issued.private_key.public_key()
    with pytest.raises(ValueError, match="Invalid password or PKCS12 data"):
        pkcs12.load_key_and_certificates(data, b"wrong")


def test_pkcs12_of_a_lone_leaf(issued: IssuedCertificate) -> None:
    data = export_pkcs12(issued.private_key, issued.chain[:1], b"pw")
    assert pkcs12.load_key_and_certificates(data, b"pw")[2] == []


def test_pkcs12_refuses_a_key_of_another_certificate(issued: IssuedCertificate) -> None:
    with pytest.raises(PkiError, match=re.escape("the key does not match the certificate")):
        export_pkcs12(generate_private_key(KeyType.EC_P256), issued.chain, b"pw")


def test_pkcs12_refuses_an_empty_passphrase(issued: IssuedCertificate) -> None:
    with pytest.raises(PkiError, match="needs a non-empty passphrase"):
        export_pkcs12(issued.private_key, issued.chain, b"")
