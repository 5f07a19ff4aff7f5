"""JWT access tokens (RFC 9068) carrying the RFC 8705 §3.1 certificate binding.

Issuance builds the RFC 9068 §2.2 claims and has them signed through the :class:`TokenSigner`
port. Verification is the resource server's side (RFC 9068 §4): signature through joserfc, then
``typ``, ``iss``, ``aud`` and the time claims, each failure an ``invalid_token`` whose description
names the reason. The binding itself (``cnf`` against the caller's certificate) is checked by
``core.mtls.binding``, not here.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

from joserfc import jws
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet
from joserfc.jwt import ClaimsOption, JWTClaimsRegistry
from msgspec import Struct

from certbound.core.errors import InvalidTokenError
from certbound.core.mtls.certificate import X5T_S256
from certbound.core.ports import TokenSigner
from certbound.core.tokens._ids import new_token_id

__all__ = [
    "ACCESS_TOKEN_TYP",
    "DEFAULT_ALGORITHMS",
    "IssuedAccessToken",
    "issue_access_token",
    "verify_access_token",
]

ACCESS_TOKEN_TYP: Final = "at+jwt"  # noqa: S105 (a media type, not a secret)
# RFC 9068 §4 accepts "at+jwt" and its full media type; media types compare case-insensitively.
_TYP_ACCEPTED: Final = frozenset({"at+jwt", "application/at+jwt"})
# "Ed25519" is the RFC 9864 name; joserfc warns (SecurityWarning) on the deprecated "EdDSA".
DEFAULT_ALGORITHMS: Final = ("ES256", "PS256", "Ed25519")
_RESERVED: Final = frozenset(
    {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "cnf"}
)
_REQUIRED: Final = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")  # RFC 9068 §2.2


class IssuedAccessToken(Struct, frozen=True):
    """A signed access token and what the token response and the audit need of it."""

    token: str
    jti: str
    expires_in: int
    claims: Mapping[str, Any]


def issue_access_token(
    signer: TokenSigner,
    *,
    issuer: str,
    client_id: str,
    subject: str,
    audience: str | Sequence[str],
    scope: Sequence[str],
    lifetime: int,
    now: int,
    cnf_thumbprint: str | None,
    jti: str | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> IssuedAccessToken:
    """Sign an RFC 9068 access token (header ``typ: at+jwt``).

    Claims: ``iss sub aud client_id iat exp jti`` (§2.2), ``scope`` space-separated when not empty
    (§2.2.3), and ``cnf: {"x5t#S256": …}`` when a certificate thumbprint is given (RFC 8705
    §3.1). ``jti`` defaults to 128 random bits, base64url. ``extra_claims`` may not override any of
    these (``ValueError``: a programming error, not a client's).
    """
    audiences = [audience] if isinstance(audience, str) else list(audience)
    if not audiences or not all(audiences):
        raise ValueError("an access token needs at least one non-empty audience (RFC 9068 §2.2)")
    if lifetime <= 0:
        raise ValueError("an access token lifetime must be positive")
    clash = sorted(_RESERVED.intersection(extra_claims or {}))
    if clash:
        raise ValueError(f"extra_claims may not set {', '.join(clash)}")
    token_id = jti or new_token_id()
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audiences[0] if len(audiences) == 1 else audiences,
        "client_id": client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": token_id,
    }
    if scope:
        claims["scope"] = " ".join(scope)
    if cnf_thumbprint is not None:
        claims["cnf"] = {X5T_S256: cnf_thumbprint}
    claims.update(extra_claims or {})
    token = signer.encode(claims, {"typ": ACCESS_TOKEN_TYP})
    return IssuedAccessToken(token, token_id, lifetime, MappingProxyType(claims))


def _as_keyset(jwks: KeySet | Mapping[str, Any]) -> KeySet:
    if isinstance(jwks, KeySet):
        return jwks
    try:
        return KeySet.import_key_set({"keys": list(jwks["keys"])})
    except (KeyError, TypeError, ValueError, JoseError) as exc:
        raise ValueError(f"not a usable JWK Set: {exc}") from None


def _checked_header(token: str, algorithms: Collection[str]) -> jws.CompactSignature:
    """RFC 9068 §4 steps before the signature: well-formed JWS, ``typ``, an accepted ``alg``."""
    try:
        obj = jws.extract_compact(token.encode("ascii"))
    except (UnicodeEncodeError, ValueError, JoseError):
        raise InvalidTokenError("malformed access token") from None
    header = obj.headers()
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in _TYP_ACCEPTED:
        raise InvalidTokenError("the token is not an access token (typ is not at+jwt)")
    if header.get("alg") not in algorithms:
        raise InvalidTokenError("the token's signature algorithm is not accepted")
    return obj


def _verified_payload(token: str, keys: KeySet, obj: jws.CompactSignature, alg: str) -> bytes:
    kid = obj.headers().get("kid")
    try:
        key = keys.get_by_kid(kid if isinstance(kid, str) else None)
    except InvalidKeyIdError:
        raise InvalidTokenError("the token was signed with an unknown key (kid)") from None
    try:
        verified = jws.deserialize_compact(token, key, algorithms=[alg])
    except BadSignatureError:
        raise InvalidTokenError("the token signature is invalid") from None
    except JoseError:
        raise InvalidTokenError("the token's key does not fit its algorithm") from None
    return verified.payload


_CLAIM_REASONS: Final = {
    "iss": "the token was issued by another issuer",
    "aud": "the token is not intended for this audience",
    "iat": "the token was issued in the future",
    "nbf": "the token is not valid yet",
}


def _check_claims(
    claims: dict[str, Any], *, issuer: str, audience: str, now: int, leeway: int
) -> None:
    options: dict[str, ClaimsOption] = {name: {"essential": True} for name in _REQUIRED}
    options["iss"] = {"essential": True, "value": issuer}
    options["aud"] = {"essential": True, "value": audience}
    try:
        JWTClaimsRegistry(now=now, leeway=leeway, **options).validate(claims)
    except ExpiredTokenError:
        raise InvalidTokenError("the token has expired") from None
    except MissingClaimError as exc:
        raise InvalidTokenError(f"the token lacks the claim(s) {exc.claim}") from None
    except ClaimError as exc:
        reason = _CLAIM_REASONS.get(exc.claim, f"the token's '{exc.claim}' claim is invalid")
        raise InvalidTokenError(reason) from None


def verify_access_token(
    token: str,
    jwks: KeySet | Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    now: int,
    leeway: int = 30,
    algorithms: Collection[str] = DEFAULT_ALGORITHMS,
) -> Mapping[str, Any]:
    """Verify an RFC 9068 access token and return its claims (RFC 9068 §4).

    ``jwks`` is the issuer's JWK Set (a joserfc ``KeySet`` or its JSON object). Every failure is
    :class:`InvalidTokenError` with a specific description: malformed, wrong ``typ``, algorithm
    not accepted, unknown ``kid``, bad signature, missing claim, wrong ``iss``/``aud``, expired,
    issued or valid only in the future. A JWK Set that cannot be read raises ``ValueError``.
    """
    keys = _as_keyset(jwks)
    obj = _checked_header(token, algorithms)
    payload = _verified_payload(token, keys, obj, str(obj.headers()["alg"]))
    try:
        claims = json.loads(payload)
    except ValueError:
        raise InvalidTokenError("the token payload is not JSON") from None
    if not isinstance(claims, dict):
        raise InvalidTokenError("the token payload is not a JSON object")
    _check_claims(claims, issuer=issuer, audience=audience, now=now, leeway=leeway)
    return MappingProxyType(claims)
