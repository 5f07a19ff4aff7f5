"""nginx $ssl_client_escaped_cert (and legacy $ssl_client_cert) parsing."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.certsource import NGINX_HEADER, CertificateHeaderError, parse_nginx_escaped_pem
from certbound.core.mtls.certificate import CertificateSource

from .conftest import der, pem

BEGIN, END = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"


def test_escaped_pem_as_nginx_sends_it(pki) -> None:
    value = quote(pem(pki.client.cert), safe="")
    assert "%0A" in value
    assert "\n" not in value
    peer = parse_nginx_escaped_pem(value)
    assert peer.chain == (pki.client.cert,)
    assert peer.source is CertificateSource.NGINX


def test_unescaped_plus_and_slash_stay_base64(pki) -> None:
    value = quote(pem(pki.client.cert), safe="/+=")
    assert "+" in value or "/" in value
    assert parse_nginx_escaped_pem(value).leaf == pki.client.cert


def test_raw_pem_is_accepted(pki) -> None:
    assert parse_nginx_escaped_pem(pem(pki.client.cert)).leaf == pki.client.cert


def test_legacy_tab_continued_pem_is_accepted(pki) -> None:
    legacy = pem(pki.client.cert).rstrip("\n").replace("\n", "\n\t")
    assert parse_nginx_escaped_pem(legacy).leaf == pki.client.cert


def test_folded_pem_with_spaces_is_accepted(pki) -> None:
    folded = " ".join(pem(pki.client.cert).split("\n"))
    assert parse_nginx_escaped_pem(folded).leaf == pki.client.cert


def test_only_the_first_certificate_is_used(pki) -> None:
    value = quote(pki.client.chain_pem.decode("ascii"), safe="")
    assert parse_nginx_escaped_pem(value).chain == (pki.client.cert,)


def _body(cert_der: bytes) -> str:
    return base64.b64encode(cert_der).decode("ascii")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty value"),
        ("  ", "empty value"),
        ("hello", "unexpected text around the PEM certificate"),
        (f"{BEGIN}\n!!!!\n{END}", "unexpected text around the PEM certificate"),
        (f"{BEGIN}\nAAA\n{END}", "PEM certificate is not valid base64"),
        (f"{BEGIN}\n{END}", "empty certificate"),
        (f"{BEGIN}\nAAAA\n{END}", "leaf is not a DER X.509 certificate"),
        (f"{BEGIN}\nAAAA\n", "unexpected text around the PEM certificate"),
        ("%FF%FE", "not an escaped PEM certificate"),
        ("caf\u00e9", "not an escaped PEM certificate"),
        ("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----", "unexpected text"),
    ],
)
def test_malformed_value_is_rejected(value: str, reason: str) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_nginx_escaped_pem(value)
    assert info.value.header == NGINX_HEADER
    assert info.value.reason.startswith(reason)


def test_text_before_the_certificate_is_rejected(pki) -> None:
    with pytest.raises(CertificateHeaderError, match="unexpected text"):
        parse_nginx_escaped_pem(quote("subject=CN=x\n" + pem(pki.client.cert), safe=""))


def test_certificate_request_is_not_a_certificate(csr_der: bytes) -> None:
    value = f"{BEGIN}\n{_body(csr_der)}\n{END}"
    with pytest.raises(CertificateHeaderError, match=r"leaf is not a DER X\.509 certificate"):
        parse_nginx_escaped_pem(value)


def test_oversized_certificate_is_rejected(huge_leaf) -> None:
    with pytest.raises(CertificateHeaderError, match="larger than 65536 bytes"):
        parse_nginx_escaped_pem(quote(pem(huge_leaf.cert), safe=""))


def test_overlong_value_is_rejected() -> None:
    with pytest.raises(CertificateHeaderError, match="value longer than"):
        parse_nginx_escaped_pem("A" * 262_145)


def test_error_names_the_configured_header() -> None:
    with pytest.raises(CertificateHeaderError, match=r"^x-ssl-cert: empty value$"):
        parse_nginx_escaped_pem("", header="x-ssl-cert")


def test_round_trip_through_der(pki) -> None:
    value = f"{BEGIN}\n{_body(der(pki.other_client.cert))}\n{END}"
    assert parse_nginx_escaped_pem(quote(value, safe="")).leaf == pki.other_client.cert


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=120))
def test_arbitrary_text_only_raises_certificate_header_error(value: str) -> None:
    with pytest.raises(CertificateHeaderError):
        parse_nginx_escaped_pem(value)


@settings(max_examples=100, deadline=None)
@given(body=st.binary(max_size=96))
def test_arbitrary_pem_bodies_only_raise_certificate_header_error(body: bytes) -> None:
    value = quote(f"{BEGIN}\n{_body(body)}\n{END}\n", safe="")
    with pytest.raises(CertificateHeaderError):
        parse_nginx_escaped_pem(value)
