"""Reading a certificate from the header fields a trusted proxy set (one function per source).

Each reader gets the request's certificate headers (lower-cased name → values, one per field
line, empty values already dropped) and returns None when its headers are absent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from .errors import CertificateHeaderError
from .nginx import parse_nginx_escaped_pem
from .rfc9440 import CLIENT_CERT, CLIENT_CERT_CHAIN, parse_rfc9440
from .xfcc import XFCC_HEADER, parse_xfcc

__all__ = ["HEADER_SOURCES", "HeaderValues", "header_names", "read_header_source"]

HeaderValues = Mapping[str, Sequence[str]]
HEADER_SOURCES = (CertificateSource.RFC9440, CertificateSource.NGINX, CertificateSource.XFCC)


def header_names(source: CertificateSource, nginx_header: str) -> tuple[str, ...]:
    """The lower-cased header names a source reads."""
    if source is CertificateSource.RFC9440:
        return (CLIENT_CERT.lower(), CLIENT_CERT_CHAIN.lower())
    if source is CertificateSource.NGINX:
        return (nginx_header,)
    if source is CertificateSource.XFCC:
        return (XFCC_HEADER,)
    raise ValueError(f"{source!r} is not a header certificate source")


def _single(values: HeaderValues, name: str, display: str) -> str | None:
    found = values.get(name, ())
    if len(found) > 1:
        raise CertificateHeaderError(display, "field sent more than once")
    return found[0] if found else None


def _read_rfc9440(values: HeaderValues, nginx_header: str) -> PeerCertificate | None:
    """RFC 9440 §2.2-2.3; the chain may span several field lines (RFC 9110 §5.3)."""
    leaf = _single(values, CLIENT_CERT.lower(), CLIENT_CERT)
    chain = values.get(CLIENT_CERT_CHAIN.lower(), ())
    if leaf is None:
        if chain:
            raise CertificateHeaderError(CLIENT_CERT_CHAIN, "sent without Client-Cert")
        return None
    return parse_rfc9440(leaf, ", ".join(chain) if chain else None)


def _read_nginx(values: HeaderValues, nginx_header: str) -> PeerCertificate | None:
    value = _single(values, nginx_header, nginx_header)
    return None if value is None else parse_nginx_escaped_pem(value, header=nginx_header)


def _read_xfcc(values: HeaderValues, nginx_header: str) -> PeerCertificate | None:
    found = values.get(XFCC_HEADER, ())
    return parse_xfcc(",".join(found)) if found else None


_READERS: dict[CertificateSource, Callable[[HeaderValues, str], PeerCertificate | None]] = {
    CertificateSource.RFC9440: _read_rfc9440,
    CertificateSource.NGINX: _read_nginx,
    CertificateSource.XFCC: _read_xfcc,
}


def read_header_source(
    source: CertificateSource, values: HeaderValues, *, nginx_header: str
) -> PeerCertificate | None:
    """The certificate ``source`` carries in ``values``, None if absent; raises on malformed."""
    return _READERS[source](values, nginx_header)
