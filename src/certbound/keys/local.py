"""A :class:`~certbound.core.ports.TokenSigner` over a private key held in process memory.

The key is a ``cryptography`` private key; joserfc checks it and signs (its JWS algorithm models
for PS256 and Ed25519; ES256's raw ``r || s`` signature is the same two lines as joserfc's model,
with the ``ECDSA`` object made once). A token is signed on every token request, so the parts that
never change are done once: the key is imported and checked once, each distinct protected header
is validated by joserfc's registry and base64url-encoded once; per token only the claims are
serialised (as ``jwt.encode`` does) and signed. The result is the same compact JWS
``joserfc.jwt.encode`` gives (RFC 7515 §7.1), at about half the cost. The ``kid`` is the
RFC 7638 JWK thumbprint of the public key, so it is stable across restarts and the same wherever
the key is loaded.

Algorithms: ``ES256`` (P-256, the default), ``PS256`` (RSA, generated with 3072 bits, loaded from
2048 bits up) and ``Ed25519`` (RFC 9864; the older name ``EdDSA`` is accepted as an alias and
published as ``Ed25519``, because joserfc flags ``EdDSA`` as deprecated).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.jws import JWSRegistry
from joserfc.util import json_b64encode, urlsafe_b64encode

from certbound._json import dumps

__all__ = ["SUPPORTED_ALGORITHMS", "LocalSigner", "normalize_alg"]

SUPPORTED_ALGORITHMS: Final = ("ES256", "PS256", "Ed25519")
_ALIASES: Final = {"EdDSA": "Ed25519"}
_RSA_GENERATED_BITS: Final = 3072
_RSA_MIN_BITS: Final = 2048
_MAX_HEADERS: Final = 16  # distinct protected headers remembered (certbound uses two)

_PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_JoseKey = ECKey | RSAKey | OKPKey
_Sign = Callable[[bytes, Any], bytes]  # (signing input, joserfc key) -> JWS signature bytes
_P256_BYTES: Final = 32


def _es256(key: ec.EllipticCurvePrivateKey) -> _Sign:
    """ES256 exactly as joserfc's ``ESAlgorithm.sign`` computes it (RFC 7518 §3.4: the ECDSA
    signature's ``r`` and ``s``, each as 32 big-endian octets), with the ``ECDSA(SHA-256)`` object
    made once instead of per token and without joserfc's per-call key-operation checks (done
    once, by ``check_key``)."""
    algorithm = ec.ECDSA(hashes.SHA256())
    sign = key.sign

    def es256(message: bytes, _: Any) -> bytes:
        r, s = decode_dss_signature(sign(message, algorithm))
        return r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")

    return es256


def normalize_alg(alg: str) -> str:
    """The supported JWS algorithm name for ``alg`` (``EdDSA`` → ``Ed25519``); else ValueError."""
    name = _ALIASES.get(alg, alg)
    if name not in SUPPORTED_ALGORITHMS:
        raise ValueError(
            f"unsupported signing algorithm {alg!r}; supported: {', '.join(SUPPORTED_ALGORITHMS)}"
        )
    return name


def _alg_for_key(key: _PrivateKey) -> str:
    """The algorithm a private key can sign with, or ValueError naming what is wrong with it."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"unsupported EC curve {key.curve.name}: only P-256 (ES256) is used")
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < _RSA_MIN_BITS:
            raise ValueError(f"RSA key of {key.key_size} bits is too short (minimum 2048)")
        return "PS256"
    return "Ed25519"


def _jose_key(key: _PrivateKey, params: dict[str, Any]) -> _JoseKey:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECKey.import_key(key, parameters=params)  # type: ignore[arg-type]
    if isinstance(key, rsa.RSAPrivateKey):
        return RSAKey.import_key(key, parameters=params)  # type: ignore[arg-type]
    return OKPKey.import_key(key, parameters=params)  # type: ignore[arg-type]


def _load_private_key(pem: bytes, password: bytes | None) -> _PrivateKey:
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    try:
        key = serialization.load_pem_private_key(pem, password)
    except TypeError:
        if encrypted:
            raise ValueError("the signing key is encrypted: a password is required") from None
        raise ValueError("the signing key is not encrypted, but a password was given") from None
    except ValueError:
        if encrypted:
            raise ValueError("cannot decrypt the signing key: wrong password") from None
        raise ValueError("not a PEM private key (PKCS#8, SEC1 or PKCS#1)") from None
    if not isinstance(key, _PrivateKey):
        raise ValueError(f"unsupported key type {type(key).__name__}: use EC P-256, RSA or Ed25519")
    return key


class LocalSigner:
    """Signs JWTs with one in-memory private key; implements ``core.ports.TokenSigner``."""

    __slots__ = ("_alg", "_headers", "_jose", "_key", "_kid", "_sign")

    def __init__(self, key: _PrivateKey, alg: str | None = None) -> None:
        expected = _alg_for_key(key)
        if alg is not None and normalize_alg(alg) != expected:
            raise ValueError(f"a {type(key).__name__} cannot sign {alg}; it signs {expected}")
        self._key = key
        self._alg = expected
        self._kid = _jose_key(key, {}).thumbprint()
        self._jose = _jose_key(key, {"kid": self._kid, "alg": expected, "use": "sig"})
        model = JWSRegistry.algorithms[expected]
        model.check_key(self._jose)
        self._sign: _Sign = (
            _es256(key) if isinstance(key, ec.EllipticCurvePrivateKey) else model.sign
        )
        self._headers: dict[tuple[tuple[str, Any], ...], bytes] = {}

    @classmethod
    def generate(cls, alg: str = "ES256") -> LocalSigner:
        """A new key for ``alg``: P-256, RSA 3072 or Ed25519."""
        name = normalize_alg(alg)
        key: _PrivateKey
        if name == "ES256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif name == "PS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_GENERATED_BITS)
        else:
            key = ed25519.Ed25519PrivateKey.generate()
        return cls(key)

    @classmethod
    def from_pem(
        cls, pem: bytes, password: bytes | None = None, alg: str | None = None
    ) -> LocalSigner:
        """Load a PEM private key; ``alg`` is inferred from the key type unless given."""
        return cls(_load_private_key(pem, password), alg)

    def to_pem(self, password: bytes | None = None) -> bytes:
        """PKCS#8 PEM, encrypted with the best available scheme when ``password`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password)
            if password
            else serialization.NoEncryption()
        )
        return self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def alg(self) -> str:
        return self._alg

    def encode(self, claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
        """A compact JWS of ``claims``; ``alg`` and ``kid`` are always this signer's own."""
        segment = self._header_segment(header)
        payload = dumps(claims)  # the bytes jwt.encode would sign, at a tenth of the cost
        signing_input = segment + b"." + urlsafe_b64encode(payload)
        signature = urlsafe_b64encode(self._sign(signing_input, self._jose))
        return (signing_input + b"." + signature).decode("ascii")

    def _header_segment(self, header: Mapping[str, Any]) -> bytes:
        """BASE64URL(UTF8(protected header)), validated by joserfc's JWS registry once."""
        key = tuple(header.items())
        try:
            return self._headers[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: encoded every time, never remembered
            return self._encode_header(header)
        segment = self._encode_header(header)
        if len(self._headers) < _MAX_HEADERS:
            self._headers[key] = segment
        return segment

    def _encode_header(self, header: Mapping[str, Any]) -> bytes:
        protected = {**header, "alg": self._alg, "kid": self._kid}
        JWSRegistry(algorithms=[self._alg]).check_header(protected)
        return json_b64encode(protected)

    def public_jwk(self) -> dict[str, Any]:
        """The public JWK with ``kid``, ``alg`` and ``use: sig`` (RFC 7517 §4)."""
        return dict(self._jose.as_dict(private=False))

    def __repr__(self) -> str:
        return f"LocalSigner(alg={self._alg!r}, kid={self._kid!r})"
