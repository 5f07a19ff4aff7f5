"""RFC 8705 mutual-TLS core: the presented certificate, its validation and the §2.1.2 matchers."""

from certbound.core.mtls.certificate import (
    X5T_S256,
    CertificateSource,
    PeerCertificate,
    thumbprints_equal,
    x5t_s256,
    x5t_s256_der,
)
from certbound.core.mtls.subject import (
    DistinguishedNameError,
    normalize_ip,
    parse_dn,
    san_dns_matches,
    san_email_matches,
    san_ip_matches,
    san_uri_matches,
    subject_dn_matches,
)
from certbound.core.mtls.verification import (
    CertificateError,
    CertificateErrorReason,
    ChainVerifier,
    CrlPolicy,
    TrustStore,
    VerifiedChain,
)

__all__ = [
    "X5T_S256",
    "CertificateError",
    "CertificateErrorReason",
    "CertificateSource",
    "ChainVerifier",
    "CrlPolicy",
    "DistinguishedNameError",
    "PeerCertificate",
    "TrustStore",
    "VerifiedChain",
    "normalize_ip",
    "parse_dn",
    "san_dns_matches",
    "san_email_matches",
    "san_ip_matches",
    "san_uri_matches",
    "subject_dn_matches",
    "thumbprints_equal",
    "x5t_s256",
    "x5t_s256_der",
]
