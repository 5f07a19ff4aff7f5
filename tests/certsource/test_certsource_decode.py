"""Shared decoding helpers (private modules), for the branches no public parser reaches."""

from __future__ import annotations

from functools import partial

import pytest

from certbound.certsource import CertificateSourceError, parse_nginx_escaped_pem
from certbound.certsource._decode import load_chain
from certbound.certsource._forwarded import header_names
from certbound.core.mtls.certificate import CertificateSource


def test_load_chain_rejects_an_empty_chain() -> None:
    with pytest.raises(CertificateSourceError, match=r"^test: no certificate$"):
        load_chain([], CertificateSource.TLS, partial(CertificateSourceError, "test"))


def test_whitespace_only_pem_has_no_certificate() -> None:
    with pytest.raises(CertificateSourceError, match="no PEM certificate"):
        parse_nginx_escaped_pem("%20%0A")


def test_tls_is_not_a_header_source() -> None:
    with pytest.raises(ValueError, match="not a header certificate source"):
        header_names(CertificateSource.TLS, "ssl-client-cert")
