"""nginx: the client certificate as ``$ssl_client_escaped_cert`` (or legacy ``$ssl_client_cert``).

nginx (``ngx_http_ssl_module``) exposes the leaf certificate only, as PEM:

- ``$ssl_client_escaped_cert`` URL-escapes it (RFC 3986 percent-encoding), e.g. with
  ``proxy_set_header ssl-client-cert $ssl_client_escaped_cert;``;
- the deprecated ``$ssl_client_cert`` prefixes every line but the first with a tab.

Both forms are accepted: the value is percent-decoded (``+`` stays ``+``: it is a base64
character, not a space), then read as RFC 7468 PEM with whitespace-insensitive bodies. nginx
sends one certificate; if a value holds more, the first is the leaf and the rest are ignored.
An empty value means "no certificate": :func:`parse_nginx_escaped_pem` rejects it, and the
middleware treats an empty header as absent.
"""

from __future__ import annotations

from functools import partial
from urllib.parse import unquote_to_bytes

from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from ._decode import Fail, decode_pem_certificates, load_chain, require_field_size
from .errors import CertificateHeaderError

__all__ = ["NGINX_HEADER", "parse_nginx_escaped_pem"]

NGINX_HEADER = "ssl-client-cert"


def parse_nginx_escaped_pem(value: str, *, header: str = NGINX_HEADER) -> PeerCertificate:
    """Read the leaf certificate from an nginx escaped (or legacy tabbed) PEM value.

    Raises :class:`CertificateHeaderError` naming ``header`` on any malformed value.
    """
    fail: Fail = partial(CertificateHeaderError, header)
    require_field_size(value, fail)
    if not value.strip():
        raise fail("empty value")
    try:
        text = unquote_to_bytes(value).decode("ascii")
    except UnicodeError as exc:  # non-ASCII input or percent-escapes of non-ASCII bytes
        raise fail("not an escaped PEM certificate", detail=repr(exc)) from exc
    ders = decode_pem_certificates(text, fail)
    return load_chain(ders[:1], CertificateSource.NGINX, fail)
