"""Certificates out of certbound: PEM, DER, PKCS#12 (RFC 7292) and JWK with ``x5c`` (RFC 7517).

The JWK is what a client registers for ``self_signed_tls_client_auth`` (RFC 8705 §2.2): the
public key, ``x5c`` (the chain, leaf first, standard base64 DER, RFC 7517 §4.7), ``kid`` = the
RFC 7638 thumbprint and ``x5t#S256`` (RFC 7517 §4.9). ``use`` is not set (the key serves TLS,
not JWS or JWE); ``alg`` is set only where the key admits one JWS algorithm: ``ES256`` for P-256,
``ES384`` for P-384 (RFC 7518 §3.4). RSA (RS256 or PS256?) and Ed25519 (EdDSA or Ed25519?) get none.
"""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PrivateFormat, pkcs12
from joserfc.jwk import ECKey, OKPKey, RSAKey

from certbound.core.mtls.certificate import X5T_S256, x5t_s256
from certbound.pki._errors import PkiError
from certbound.pki.keys import PrivateKey, require_matching_key

__all__ = ["export_der", "export_jwk", "export_pem", "export_pkcs12"]

_PKCS12_KDF_ROUNDS = 600_000  # PBKDF2-SHA256, OWASP 2023 guidance


def export_pem(certs: tuple[x509.Certificate, ...]) -> bytes:
    """The certificates as concatenated PEM, in the given order."""
    return b"".join(c.public_bytes(Encoding.PEM) for c in certs)


def export_der(cert: x509.Certificate) -> bytes:
    """The one certificate as DER (a DER file holds exactly one)."""
    return cert.public_bytes(Encoding.DER)


def export_pkcs12(
    key: PrivateKey,
    chain: tuple[x509.Certificate, ...],
    passphrase: bytes,
    *,
    friendly_name: str | None = None,
) -> bytes:
    """PKCS#12 with the key, the leaf and the rest of ``chain``; PBES2 AES-256 + SHA-256 MAC."""
    if not passphrase:
        raise PkiError("a PKCS#12 file needs a non-empty passphrase")
    require_matching_key(chain[0], key, label="the key")
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(_PKCS12_KDF_ROUNDS)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(passphrase)
    )
    name = friendly_name.encode() if friendly_name else None
    return pkcs12.serialize_key_and_certificates(
        name, key, chain[0], list(chain[1:]) or None, encryption
    )


def _jwk_alg(public: object) -> str | None:
    if isinstance(public, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ES256", "secp384r1": "ES384"}.get(public.curve.name)
    return None


def export_jwk(chain: tuple[x509.Certificate, ...]) -> dict[str, Any]:
    """The leaf's public key as a JWK carrying the chain (see the module docstring)."""
    leaf = chain[0]
    public = leaf.public_key()
    key: ECKey | RSAKey | OKPKey
    if isinstance(public, ec.EllipticCurvePublicKey):
        key = ECKey.import_key(public)
    elif isinstance(public, rsa.RSAPublicKey):
        key = RSAKey.import_key(public)
    elif isinstance(public, ed25519.Ed25519PublicKey):
        key = OKPKey.import_key(public)
    else:
        raise PkiError(f"no JWK form for a {type(public).__name__} key")
    jwk: dict[str, Any] = dict(key.as_dict(private=False))
    jwk["kid"] = key.thumbprint()
    alg = _jwk_alg(public)
    if alg is not None:
        jwk["alg"] = alg
    jwk["x5c"] = [base64.b64encode(c.public_bytes(Encoding.DER)).decode("ascii") for c in chain]
    jwk[X5T_S256] = x5t_s256(leaf)
    return jwk
