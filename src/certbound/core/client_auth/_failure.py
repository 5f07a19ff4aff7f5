"""The private failure value shared by the client authentication methods.

A method raises :class:`ClientAuthFailure`; :func:`certbound.core.client_auth.authenticate_client`
is the one place that turns it into ``invalid_client`` and a ``ClientAuthFailed`` event
(STYLE.md rule 4, "translate once").
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AuthFailureReason", "ClientAuthFailure"]


class AuthFailureReason(StrEnum):
    """Why a client was not authenticated (the ``reason`` of ``ClientAuthFailed``).

    A chain rejected by PKI path validation (§2.1) uses the
    :class:`~certbound.core.mtls.verification.CertificateErrorReason` value instead.
    """

    MISSING_CLIENT_ID = "missing_client_id"
    UNKNOWN_CLIENT = "unknown_client"
    OTHER_METHOD_PRESENTED = "other_method_presented"  # not the registered method
    METHOD_NOT_ALLOWED = "method_not_allowed"  # registered method not accepted here
    NO_CERTIFICATE = "no_certificate"
    NO_SUBJECT_REGISTERED = "no_subject_registered"  # §2.1.2: not exactly one matcher
    SUBJECT_MISMATCH = "subject_mismatch"
    CERTIFICATE_EXPIRED = "certificate_expired"  # §2.2 self-signed outside its validity
    NO_CERTIFICATES_REGISTERED = "no_certificates_registered"  # §2.2: neither jwks nor jwks_uri
    JWKS_UNAVAILABLE = "jwks_unavailable"
    CERTIFICATE_NOT_REGISTERED = "certificate_not_registered"
    # private_key_jwt (RFC 7523 §3)
    ASSERTION_MISSING = "assertion_missing"  # no client_assertion (or no type)
    ASSERTION_TYPE_UNSUPPORTED = "assertion_type_unsupported"
    ASSERTION_MALFORMED = "assertion_malformed"  # not a compact JWS with a JSON object payload
    ASSERTION_ALGORITHM_REFUSED = "assertion_algorithm_refused"  # none, HS*, …
    NO_KEYS_REGISTERED = "no_keys_registered"  # neither jwks nor jwks_uri
    ASSERTION_SIGNATURE_INVALID = "assertion_signature_invalid"  # no registered key verifies it
    ASSERTION_CLAIMS_INVALID = "assertion_claims_invalid"  # iss, sub, aud, exp, iat, nbf, jti
    ASSERTION_REPLAYED = "assertion_replayed"
    # none (RFC 8705 §4): answered invalid_request, not invalid_client
    PUBLIC_CLIENT_NO_CERTIFICATE = "public_client_no_certificate"


class ClientAuthFailure(Exception):
    """A client authentication method refused the request; ``reason`` and a private ``detail``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
