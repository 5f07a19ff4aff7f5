"""Which of a client's registered JWKs may verify its ``private_key_jwt`` assertion (RFC 7523 §3
item 9; RFC 7517 §4.2-4.5 ``use``, ``alg``, ``kid``; RFC 7518 §6).

A key is used only when it is an asymmetric public key (EC, RSA of 2048 bits or more, OKP), meant
for signatures (``use`` absent or ``sig``), for the assertion's algorithm (``alg`` absent or
equal) and, when the assertion names a ``kid``, with that ``kid``. Anything else in a JWK Set —
symmetric keys, malformed members, non-objects — is skipped, never an error: a ``jwks_uri`` is the
client's document, not the server's.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, Final

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry

__all__ = ["RSA_MIN_BITS", "rsa_modulus_bits", "verify_with_jwks"]

_ASYMMETRIC: Final = frozenset({"EC", "RSA", "OKP"})
RSA_MIN_BITS: Final = 2048


def rsa_modulus_bits(jwk: Mapping[str, Any]) -> int:
    """The bit length of an RSA JWK's modulus ``n`` (RFC 7518 §6.3.1.1); 0 when unreadable.
    Checked before importing, which would warn about (but accept) a short key."""
    n = jwk.get("n")
    if not isinstance(n, str):
        return 0
    try:
        raw = base64.urlsafe_b64decode(n + "=" * (-len(n) % 4))
    except (binascii.Error, ValueError):
        return 0
    return int.from_bytes(raw, "big").bit_length()


def _usable_key(jwk: Any, kid: str | None, alg: str) -> Any | None:
    """The joserfc key of one registered JWK if it may verify ``alg`` under ``kid``."""
    if not isinstance(jwk, Mapping) or jwk.get("kty") not in _ASYMMETRIC:
        return None
    if kid is not None and jwk.get("kid") != kid:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
        return None
    if jwk["kty"] == "RSA" and rsa_modulus_bits(jwk) < RSA_MIN_BITS:
        return None
    try:
        return JWKRegistry.import_key(dict(jwk))
    except (JoseError, ValueError, TypeError, KeyError):
        return None


def verify_with_jwks(
    jwks: Mapping[str, Any], assertion: str, kid: str | None, alg: str
) -> bytes | None:
    """The payload if a key of ``jwks`` verifies the assertion, else None."""
    keys = jwks.get("keys")
    for jwk in keys if isinstance(keys, list) else ():
        key = _usable_key(jwk, kid, alg)
        if key is None:
            continue
        try:
            return jws.deserialize_compact(assertion, key, algorithms=[alg]).payload
        except JoseError:  # a bad signature, or a key that does not fit the algorithm
            continue
    return None
