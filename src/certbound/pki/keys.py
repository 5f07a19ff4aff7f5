"""Key generation, encryption at rest and loading (PKCS#8, RFC 5958; PBES2, RFC 8018).

Supported key types are the ones the TLS 1.3 signature schemes and the `cryptography` X.509
verifier cover: ECDSA P-256 / P-384, RSA 2048 / 3072 / 4096 and Ed25519 (RFC 8410).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from certbound.pki._errors import PkiError

__all__ = [
    "KeyType",
    "PassphraseSource",
    "PrivateKey",
    "PublicKey",
    "encode_private_key",
    "generate_private_key",
    "key_type_of",
    "load_private_key",
    "parse_key_type",
    "require_matching_key",
    "signature_hash",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
PassphraseSource = Callable[[], bytes]
"""Called only when a key turns out to be encrypted (so nobody is prompted for nothing)."""


class KeyType(StrEnum):
    """The key types certbound generates; the value is the CLI spelling."""

    EC_P256 = "ec-p256"
    EC_P384 = "ec-p384"
    RSA_2048 = "rsa-2048"
    RSA_3072 = "rsa-3072"
    RSA_4096 = "rsa-4096"
    ED25519 = "ed25519"


_CURVES: dict[str, KeyType] = {"secp256r1": KeyType.EC_P256, "secp384r1": KeyType.EC_P384}
_RSA_SIZES: dict[int, KeyType] = {
    2048: KeyType.RSA_2048,
    3072: KeyType.RSA_3072,
    4096: KeyType.RSA_4096,
}


def parse_key_type(text: str) -> KeyType:
    """The :class:`KeyType` spelled ``text`` (case-insensitive), or :class:`PkiError`."""
    try:
        return KeyType(text.strip().lower())
    except ValueError:
        choices = ", ".join(k.value for k in KeyType)
        raise PkiError(f"unknown key type {text!r}: use one of {choices}") from None


def generate_private_key(key_type: KeyType) -> PrivateKey:
    """A fresh private key of ``key_type`` (RSA with public exponent 65537)."""
    if key_type is KeyType.ED25519:
        return ed25519.Ed25519PrivateKey.generate()
    if key_type in (KeyType.EC_P256, KeyType.EC_P384):
        curve = ec.SECP256R1() if key_type is KeyType.EC_P256 else ec.SECP384R1()
        return ec.generate_private_key(curve)
    size = int(key_type.value.removeprefix("rsa-"))
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_type_of(key: PrivateKey | PublicKey | object) -> KeyType:
    """The :class:`KeyType` of a private or public key; :class:`PkiError` for other keys."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        found = _CURVES.get(key.curve.name)
        if found is not None:
            return found
        raise PkiError(f"unsupported key type: EC curve {key.curve.name}")
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        size = _RSA_SIZES.get(key.key_size)
        if size is not None:
            return size
        raise PkiError(f"unsupported key type: RSA {key.key_size} bits")
    raise PkiError(f"unsupported key type: {type(key).__name__}")


def signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | None:
    """The hash a signature by ``key`` uses: SHA-384 for P-384, none for Ed25519, else SHA-256."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size >= 384:
        return hashes.SHA384()
    return hashes.SHA256()


def encode_private_key(key: PrivateKey, passphrase: bytes | None) -> bytes:
    """PEM PKCS#8, encrypted (PBES2 with AES-256) when ``passphrase`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_private_key(data: bytes, passphrase: PassphraseSource | None, *, label: str) -> PrivateKey:
    """Load a PEM (PKCS#8, PKCS#1, SEC1) or DER private key; ``label`` names it in errors.

    ``passphrase`` is consulted only when the key is encrypted.
    """
    loader = (
        serialization.load_pem_private_key
        if b"-----BEGIN" in data
        else serialization.load_der_private_key
    )
    try:
        key = loader(data, password=None)
    except TypeError:  # encrypted: ask for the passphrase now
        if passphrase is None:
            raise PkiError(f"{label} is encrypted and no passphrase was given") from None
        password = passphrase()  # its own errors pass through unchanged
        try:
            key = loader(data, password=password)
        except ValueError:
            raise PkiError(f"wrong passphrase for {label}") from None
    except UnsupportedAlgorithm:
        raise PkiError(f"{label} uses an unsupported key algorithm") from None
    except ValueError:
        raise PkiError(f"{label} is not a readable private key (truncated or not a key)") from None
    if not isinstance(
        key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise PkiError(f"{label}: unsupported key type {type(key).__name__}")
    return key


def require_matching_key(cert: x509.Certificate, key: PrivateKey, *, label: str) -> None:
    """Raise :class:`PkiError` unless ``key`` is the private half of ``cert``'s public key."""
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if cert.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise PkiError(f"{label} does not match the certificate's public key")
