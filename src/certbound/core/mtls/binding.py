"""Certificate-bound access tokens (RFC 8705 §3): make the ``cnf`` claim, and check it.

The authorization server binds a token to the certificate the client used on the token request
with the confirmation claim ``cnf: {"x5t#S256": <thumbprint>}`` (§3.1; RFC 7800 §3.1). The
protected resource compares that thumbprint with the certificate of its own mutual-TLS session
with the caller (§3): no certificate or another one is ``invalid_token`` (RFC 6750 §3.1). It
does not validate the certificate chain: the binding is the check. The comparison is constant
time (§7.2). The same check serves a JWT's claims (§3.1) and an introspection response (§3.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from certbound.core.errors import InvalidTokenError
from certbound.core.mtls.certificate import X5T_S256, PeerCertificate, thumbprints_equal

__all__ = [
    "CNF",
    "NOT_BOUND",
    "NO_CERTIFICATE",
    "OTHER_CERTIFICATE",
    "check_binding",
    "cnf_thumbprint",
    "confirmation",
]

CNF: Final = "cnf"
NO_CERTIFICATE: Final = "the token is bound to a client certificate and none was presented"
OTHER_CERTIFICATE: Final = "the token is bound to another certificate"
NOT_BOUND: Final = "the token is not certificate-bound"
_MALFORMED: Final = "the token's confirmation (cnf) claim is malformed"
_OTHER_METHOD: Final = "the token is bound by a method other than a client certificate"


def confirmation(peer: PeerCertificate) -> dict[str, str]:
    """The ``cnf`` value binding a token to ``peer``'s leaf certificate (RFC 8705 §3.1)."""
    return {X5T_S256: peer.thumbprint}


def cnf_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.x5t#S256`` of ``claims``, or None when the token has no ``cnf`` at all.

    Raises :class:`InvalidTokenError` when ``cnf`` is not an object, when it confirms another
    kind of key (e.g. ``jkt`` of RFC 9449, which a certificate cannot satisfy), or when the
    thumbprint is not a non-empty string.
    """
    if CNF not in claims:
        return None
    cnf = claims[CNF]
    if not isinstance(cnf, Mapping):
        raise InvalidTokenError(_MALFORMED, detail=f"cnf is a {type(cnf).__name__}")
    if X5T_S256 not in cnf:
        members = ", ".join(sorted(str(k) for k in cnf)) or "none"
        raise InvalidTokenError(_OTHER_METHOD, detail=f"cnf members: {members}")
    thumbprint = cnf[X5T_S256]
    if not isinstance(thumbprint, str) or not thumbprint:
        raise InvalidTokenError(_MALFORMED, detail="cnf x5t#S256 is not a non-empty string")
    return thumbprint


def check_binding(
    claims: Mapping[str, Any], peer: PeerCertificate | None, *, require: bool = True
) -> None:
    """Check a token's ``cnf`` against the caller's certificate (RFC 8705 §3).

    Raises :class:`InvalidTokenError` when the token is bound and no certificate was presented,
    when it is bound to another certificate, when ``cnf`` is malformed or names another method,
    and, with ``require`` (the default), when the token is not bound at all. An unbound token
    with ``require=False`` passes whether or not a certificate was presented.
    """
    expected = cnf_thumbprint(claims)
    if expected is None:
        if require:
            raise InvalidTokenError(NOT_BOUND, detail="no cnf claim and bound tokens are required")
        return
    if peer is None:
        raise InvalidTokenError(NO_CERTIFICATE, detail=f"cnf x5t#S256 {expected}, no certificate")
    if not thumbprints_equal(expected, peer.thumbprint):
        raise InvalidTokenError(
            OTHER_CERTIFICATE,
            detail=f"cnf x5t#S256 {expected}, presented {peer.thumbprint}",
        )
