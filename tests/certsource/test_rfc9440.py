"""RFC 9440 Client-Cert / Client-Cert-Chain parsing and formatting."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.certsource import (
    CLIENT_CERT,
    CLIENT_CERT_CHAIN,
    CertificateHeaderError,
    format_rfc9440,
    parse_rfc9440,
)
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from .conftest import der


def sf_binary(data: bytes) -> str:
    return f":{base64.b64encode(data).decode('ascii')}:"


def test_round_trip_leaf_and_intermediate(pki) -> None:
    original = PeerCertificate(pki.client.chain, CertificateSource.TLS)
    fields = format_rfc9440(original)
    peer = parse_rfc9440(fields[CLIENT_CERT], fields[CLIENT_CERT_CHAIN])
    assert peer.chain == pki.client.chain
    assert peer.source is CertificateSource.RFC9440
    assert peer.thumbprint == original.thumbprint


def test_format_writes_sf_binary_items_and_omits_an_empty_chain(pki) -> None:
    with_chain = format_rfc9440(PeerCertificate(pki.client.chain, CertificateSource.TLS))
    assert with_chain == {
        CLIENT_CERT: sf_binary(der(pki.client.cert)),
        CLIENT_CERT_CHAIN: sf_binary(der(pki.intermediate.cert)),
    }
    leaf_only = format_rfc9440(PeerCertificate((pki.self_signed.cert,), CertificateSource.TLS))
    assert leaf_only == {CLIENT_CERT: sf_binary(der(pki.self_signed.cert))}


def test_leaf_only_without_chain_header(pki) -> None:
    peer = parse_rfc9440(sf_binary(der(pki.self_signed.cert)), None)
    assert peer.chain == (pki.self_signed.cert,)


def test_accepts_bytes_and_surrounding_spaces(pki) -> None:
    value = f"  {sf_binary(der(pki.client.cert))} ".encode("ascii")
    chain = sf_binary(der(pki.intermediate.cert)).encode("ascii")
    assert parse_rfc9440(value, chain).chain == pki.client.chain


def test_chain_split_over_field_lines_keeps_order(pki) -> None:
    inter, root = der(pki.intermediate.cert), der(pki.root.cert)
    peer = parse_rfc9440(sf_binary(der(pki.client.cert)), f"{sf_binary(inter)}, {sf_binary(root)}")
    assert peer.chain == (pki.client.cert, pki.intermediate.cert, pki.root.cert)


def test_empty_chain_field_is_an_empty_list(pki) -> None:
    assert parse_rfc9440(sf_binary(der(pki.client.cert)), " ").chain == (pki.client.cert,)


def test_unknown_parameters_are_ignored(pki) -> None:
    leaf = sf_binary(der(pki.client.cert)) + ";future=1"
    chain = sf_binary(der(pki.intermediate.cert)) + ";x"
    assert parse_rfc9440(leaf, chain).chain == pki.client.chain


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "not a structured field item"),
        (":AAAA", "not a structured field item"),  # no closing colon
        (":AAA:", "not a structured field item"),  # bad base64 padding
        (":AA*A:", "not a structured field item"),  # not base64
        (":AAAA:, :AAAA:", "not a structured field item"),  # a list, not an item
        ("Client-Cert: :AAAA:", "not a structured field item"),
        ('"MIIB"', "not a byte sequence"),
        ("token", "not a byte sequence"),
        ("42", "not a byte sequence"),
        ("?1", "not a byte sequence"),
        ("::", "empty certificate"),
        (":AAAA:", "leaf is not a DER X.509 certificate"),
        (":é:", "value is not ASCII"),
    ],
)
def test_malformed_client_cert_is_rejected(pki, value: str, reason: str) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_rfc9440(value, None)
    assert info.value.header == CLIENT_CERT
    assert info.value.reason == reason
    assert str(info.value) == f"Client-Cert: {reason}"


def test_certificate_request_der_is_not_a_certificate(csr_der: bytes) -> None:
    with pytest.raises(CertificateHeaderError, match=r"leaf is not a DER X\.509 certificate"):
        parse_rfc9440(sf_binary(csr_der), None)


@pytest.mark.parametrize(
    ("chain", "reason"),
    [
        ("token", "list member is not a byte sequence"),
        ('"text"', "list member is not a byte sequence"),
        ("(:AAAA: :AAAA:)", "list member is not a byte sequence"),  # inner list
        (":AAAA:,", "not a structured field list"),  # trailing comma
        ("(:AAAA:", "not a structured field list"),  # unterminated inner list
        (":AAAA:", "chain certificate 1 is not a DER X.509 certificate"),
        ("::", "empty certificate"),
        ("\u00ff", "value is not ASCII"),
    ],
)
def test_malformed_client_cert_chain_is_rejected(pki, chain: str, reason: str) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_rfc9440(sf_binary(der(pki.client.cert)), chain)
    assert info.value.header == CLIENT_CERT_CHAIN
    assert info.value.reason == reason


def test_bad_second_chain_entry_is_numbered(pki) -> None:
    chain = f"{sf_binary(der(pki.intermediate.cert))}, {sf_binary(b'not der')}"
    with pytest.raises(CertificateHeaderError, match="chain certificate 2 is not a DER"):
        parse_rfc9440(sf_binary(der(pki.client.cert)), chain)


def test_more_than_ten_chain_entries_are_rejected(pki) -> None:
    ten = ", ".join([sf_binary(der(pki.intermediate.cert))] * 10)
    assert len(parse_rfc9440(sf_binary(der(pki.client.cert)), ten).chain) == 11
    eleven = ten + ", " + sf_binary(der(pki.intermediate.cert))
    with pytest.raises(CertificateHeaderError, match="more than 10 chain certificates"):
        parse_rfc9440(sf_binary(der(pki.client.cert)), eleven)


def test_total_size_over_64_kib_is_rejected(huge_leaf) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_rfc9440(sf_binary(der(huge_leaf.cert)), None)
    assert info.value.reason == "certificates larger than 65536 bytes in total"


def test_overlong_field_is_rejected_before_parsing() -> None:
    with pytest.raises(CertificateHeaderError, match="value longer than 262144 characters"):
        parse_rfc9440(":" + "A" * 262_144 + ":", None)


def test_error_is_a_value_error_with_a_private_detail() -> None:
    with pytest.raises(ValueError, match="Client-Cert") as info:
        parse_rfc9440(":AAAA:", None)
    assert isinstance(info.value, CertificateHeaderError)
    assert info.value.detail  # cryptography's message, for logs only
    assert "\n" not in str(info.value)


@settings(max_examples=150, deadline=None)
@given(
    leaf=st.one_of(st.text(max_size=80), st.binary(max_size=80)),
    chain=st.one_of(st.none(), st.text(max_size=80), st.binary(max_size=80)),
)
def test_arbitrary_input_only_raises_certificate_header_error(
    leaf: str | bytes, chain: str | bytes | None
) -> None:
    with pytest.raises(CertificateHeaderError):  # 80 bytes are too few for a certificate
        parse_rfc9440(leaf, chain)


@settings(max_examples=150, deadline=None)
@given(payload=st.binary(max_size=64), params=st.sampled_from(["", ";a", ";a=1", ';b="x"']))
def test_arbitrary_byte_sequences_only_raise_certificate_header_error(
    payload: bytes, params: str
) -> None:
    with pytest.raises(CertificateHeaderError, match=r"^Client-Cert"):
        parse_rfc9440(sf_binary(payload) + params, sf_binary(payload))
