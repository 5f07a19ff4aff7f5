"""RFC 8705 §2.1: the PKI method ``tls_client_auth``.

1. The presented chain is validated against the configured trust anchors (RFC 5280 path
   validation, validity, EKU ``clientAuth``, revocation where configured) by
   :class:`~certbound.core.mtls.verification.ChainVerifier`. A handshake that "verified" is not
   enough (RFC 8705 §2, STACK.md trap): the chain is always re-validated here.
2. Exactly one registered §2.1.2 value binds the validated leaf to the client: the subject DN
   (compared as a whole DN) or one SAN entry of the registered type. The registration rules refuse
   zero or several; if a stored client still has that, authentication fails closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from cryptography import x509

from certbound.core.client_auth._failure import AuthFailureReason, ClientAuthFailure
from certbound.core.clients import SUBJECT_FIELDS, Client
from certbound.core.mtls.certificate import PeerCertificate
from certbound.core.mtls.subject import (
    san_dns_matches,
    san_email_matches,
    san_ip_matches,
    san_uri_matches,
    subject_dn_matches,
)
from certbound.core.mtls.verification import CertificateError, ChainVerifier

__all__ = ["authenticate_tls_client_auth", "registered_matcher"]

_Matcher = Callable[[x509.Certificate, str], bool]


def _subject_dn(cert: x509.Certificate, value: str) -> bool:
    return subject_dn_matches(value, cert.subject)


# RFC 8705 §2.1.2, one matcher per client metadata field (wire names verbatim).
_MATCHERS: dict[str, _Matcher] = {
    "tls_client_auth_subject_dn": _subject_dn,
    "tls_client_auth_san_dns": san_dns_matches,
    "tls_client_auth_san_uri": san_uri_matches,
    "tls_client_auth_san_ip": san_ip_matches,
    "tls_client_auth_san_email": san_email_matches,
}


def registered_matcher(client: Client) -> tuple[str, str]:
    """The one §2.1.2 field the client registered and its value; ``ClientAuthFailure`` if there is
    not exactly one."""
    registered = [(f, v) for f in SUBJECT_FIELDS if (v := getattr(client, f)) is not None]
    if len(registered) != 1:
        fields = ", ".join(f for f, _ in registered) or "none"
        raise ClientAuthFailure(
            AuthFailureReason.NO_SUBJECT_REGISTERED,
            f"tls_client_auth needs exactly one registered subject field, found: {fields}",
        )
    return registered[0]


def authenticate_tls_client_auth(
    client: Client, peer: PeerCertificate, verifier: ChainVerifier, now: dt.datetime
) -> None:
    """§2.1: validate the chain, then the one registered subject matcher; raise
    :class:`ClientAuthFailure` on any failure."""
    field, value = registered_matcher(client)
    try:
        verifier.verify(peer, at=now)
    except CertificateError as exc:
        raise ClientAuthFailure(str(exc.reason), f"{exc.reason}: {exc}") from None
    if not _MATCHERS[field](peer.leaf, value):
        raise ClientAuthFailure(
            AuthFailureReason.SUBJECT_MISMATCH,
            f"certificate {peer.leaf.subject.rfc4514_string()!r} does not match the registered"
            f" {field} {value!r}",
        )
