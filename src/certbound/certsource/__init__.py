"""Where a client certificate comes from: the TLS layer or a trusted proxy's header.

Every source yields a :class:`certbound.core.mtls.certificate.PeerCertificate` (chain leaf
first, with its :class:`~certbound.core.mtls.certificate.CertificateSource`); a malformed value
raises :class:`CertificateSourceError` (a ``ValueError``; :class:`CertificateHeaderError` for
headers). :class:`ClientCertificateMiddleware` puts it together for ASGI apps.
"""

from __future__ import annotations

from .asgi_tls import peer_from_asgi_scope
from .errors import CertificateHeaderError, CertificateSourceError
from .middleware import ClientCertificateMiddleware, peer_certificate
from .nginx import NGINX_HEADER, parse_nginx_escaped_pem
from .rfc9440 import CLIENT_CERT, CLIENT_CERT_CHAIN, format_rfc9440, parse_rfc9440
from .trusted_proxy import TrustedProxies
from .xfcc import XFCC_HEADER, XfccElement, format_xfcc_element, parse_xfcc, parse_xfcc_elements

__all__ = [
    "CLIENT_CERT",
    "CLIENT_CERT_CHAIN",
    "NGINX_HEADER",
    "XFCC_HEADER",
    "CertificateHeaderError",
    "CertificateSourceError",
    "ClientCertificateMiddleware",
    "TrustedProxies",
    "XfccElement",
    "format_rfc9440",
    "format_xfcc_element",
    "parse_nginx_escaped_pem",
    "parse_rfc9440",
    "parse_xfcc",
    "parse_xfcc_elements",
    "peer_certificate",
    "peer_from_asgi_scope",
]
