"""The curated public surface of certbound.certsource."""

from __future__ import annotations

import certbound.certsource as certsource


def test_all_is_curated_and_importable() -> None:
    assert certsource.__all__ == [
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
    for name in certsource.__all__:
        assert getattr(certsource, name) is not None


def test_errors_are_value_errors() -> None:
    assert issubclass(certsource.CertificateHeaderError, certsource.CertificateSourceError)
    assert issubclass(certsource.CertificateSourceError, ValueError)
    error = certsource.CertificateHeaderError("Client-Cert", "not a byte sequence", detail="x")
    assert (error.header, error.reason, error.detail) == ("Client-Cert", "not a byte sequence", "x")
    assert str(error) == "Client-Cert: not a byte sequence"
