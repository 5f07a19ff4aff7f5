"""RFC 8705 §2.2: the self-signed method ``self_signed_tls_client_auth``.

The client registers its certificate(s) as JWKs carrying ``x5c``, in ``jwks`` or behind a
``jwks_uri``. The presented leaf authenticates the client when its ``x5t#S256`` (§3.1) equals the
``x5t#S256`` of the first certificate of the ``x5c`` of one registered key. There is no chain
validation: trust comes from registration only (§2.2, §7). Thumbprints are compared in constant
time (§7.2).

- **Validity (certbound's choice).** RFC 8705 asks for no PKI checks here, but a certificate outside
  its own validity period is refused (``certificate_expired``), as most authorization servers do:
  an expired self-signed certificate is a stale credential, and refusing it makes rotation visible
  instead of silent. Nothing else of RFC 5280 is checked (no EKU, no key usage).
- **jwks_uri rotation.** The set is fetched through the :class:`~certbound.core.ports.JwksFetcher`
  (cached); when the presented certificate is not in it, the set is refetched once with
  ``force=True`` (the fetcher rate-limits forced refetches), so a client can rotate by publishing
  its new certificate first.
- Only ``x5c`` counts: a JWK without a certificate, or a bare ``x5t#S256`` member, registers nothing.
  The JWK's own public key is not compared with the certificate's: the certificate is the credential.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Mapping
from typing import Any

from cryptography import x509

from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.client_auth._jwks import fetch_client_jwks
from certbound.core.clients import Client
from certbound.core.mtls.certificate import PeerCertificate, thumbprints_equal, x5t_s256_der
from certbound.core.ports import JwksFetcher

__all__ = ["authenticate_self_signed_tls_client_auth", "registered_thumbprints"]


def registered_thumbprints(jwks: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``x5t#S256`` of ``x5c[0]`` (RFC 7517 §4.7: standard base64 DER) of every key of a JWK
    Set; malformed keys are skipped."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return ()
    out: list[str] = []
    for key in keys:
        x5c = key.get("x5c") if isinstance(key, Mapping) else None
        if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
            continue
        try:
            der = base64.b64decode(x5c[0], validate=True)
        except (binascii.Error, ValueError):
            continue
        out.append(x5t_s256_der(der))
    return tuple(out)


def _is_registered(jwks: Mapping[str, Any], thumbprint: str) -> bool:
    """Constant-time membership: every registered thumbprint is compared (§7.2)."""
    found = False
    for registered in registered_thumbprints(jwks):
        found |= thumbprints_equal(registered, thumbprint)
    return found


def _check_validity(leaf: x509.Certificate, now: dt.datetime) -> None:
    start, end = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    if not start <= now <= end:
        state = "expired" if now > end else "not yet valid"
        raise ClientAuthFailure(
            AuthFailureReason.CERTIFICATE_EXPIRED,
            f"self-signed certificate {state} at {now.isoformat()}"
            f" (valid {start.isoformat()} to {end.isoformat()})",
        )


def _not_registered(peer: PeerCertificate, where: str) -> ClientAuthFailure:
    return ClientAuthFailure(
        AuthFailureReason.CERTIFICATE_NOT_REGISTERED,
        f"presented certificate x5t#S256={peer.thumbprint} is not in the client's {where}",
    )


async def authenticate_self_signed_tls_client_auth(
    client: Client, peer: PeerCertificate, jwks_fetcher: JwksFetcher, now: dt.datetime
) -> None:
    """§2.2: the leaf must be one of the client's registered certificates; raise
    :class:`ClientAuthFailure` otherwise."""
    _check_validity(peer.leaf, now)
    if client.jwks is not None:
        if not _is_registered(client.jwks, peer.thumbprint):
            raise _not_registered(peer, "jwks")
        return
    if client.jwks_uri is None:
        raise ClientAuthFailure(
            AuthFailureReason.NO_CERTIFICATES_REGISTERED, "the client has neither jwks nor jwks_uri"
        )
    if _is_registered(
        await fetch_client_jwks(jwks_fetcher, client.jwks_uri, force=False), peer.thumbprint
    ):
        return
    # An unknown certificate: the client may have rotated; refetch once (rate-limited by the fetcher).
    if _is_registered(
        await fetch_client_jwks(jwks_fetcher, client.jwks_uri, force=True), peer.thumbprint
    ):
        return
    raise _not_registered(peer, "jwks_uri")
