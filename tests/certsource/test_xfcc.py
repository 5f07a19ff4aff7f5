"""Envoy x-forwarded-client-cert: the tokenizer and the certificate it carries."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.certsource import (
    XFCC_HEADER,
    CertificateHeaderError,
    format_xfcc_element,
    parse_xfcc,
    parse_xfcc_elements,
)
from certbound.core.mtls.certificate import CertificateSource

from .conftest import der, pem

ENVOY_DOC_EXAMPLE = (
    "By=http://frontend.lyft.com;"
    "Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;"
    'Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";'
    "URI=spiffe://lyft.com/test-team"
)


def url_pem(*certs) -> str:
    return quote("".join(pem(c) for c in certs), safe="")


def sha256_hex(cert) -> str:
    return hashlib.sha256(der(cert)).hexdigest()


# --- tokenizer -------------------------------------------------------------------------------


def test_tokenizes_the_envoy_documentation_example() -> None:
    (element,) = parse_xfcc_elements(ENVOY_DOC_EXAMPLE)
    assert element.get("by") == "http://frontend.lyft.com"
    assert element.get("Subject") == "/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client"
    assert element.get("uri") == "spiffe://lyft.com/test-team"
    assert element.get("cert") is None


def test_quoted_values_keep_commas_semicolons_equals_and_escaped_quotes() -> None:
    value = r'Subject="CN=a, O=\"b;c\"";DNS=x.example, By=second'
    first, second = parse_xfcc_elements(value)
    assert first.pairs == (("subject", 'CN=a, O="b;c"'), ("dns", "x.example"))
    assert second.pairs == (("by", "second"),)


def test_escaped_backslash_and_literal_backslashes() -> None:
    (element,) = parse_xfcc_elements(r'A="x\\y";B="p\q";C=r\s')
    assert element.pairs == (("a", "x\\y"), ("b", "p\\q"), ("c", "r\\s"))


def test_whitespace_around_elements_and_pairs_is_ignored_and_keys_are_case_insensitive() -> None:
    (first, second) = parse_xfcc_elements(' BY = a ; uRi = "b" ,\tDNS=c ')
    assert first.pairs == (("by", "a"), ("uri", "b"))
    assert second.get_all("DNS") == ("c",)


def test_repeated_multi_valued_keys_and_empty_values() -> None:
    (element,) = parse_xfcc_elements('DNS=a;DNS=b;URI=;Subject=""')
    assert element.get_all("dns") == ("a", "b")
    assert element.get("uri") == ""
    assert element.get("subject") == ""


def test_equals_sign_in_an_unquoted_value_splits_at_the_first() -> None:
    (element,) = parse_xfcc_elements("By=a=b")
    assert element.pairs == (("by", "a=b"),)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "empty element"),
        ("By=a,", "empty element"),
        (",By=a", "empty element"),
        ("By=a;;URI=b", "empty key=value pair"),
        ("By=a;", "empty key=value pair"),
        ("By", "malformed key=value pair"),
        ("=a", "malformed key=value pair"),
        ("1x=a", "malformed key=value pair"),
        ('"By"=a', "malformed key=value pair"),
        ('By="a', "unterminated quoted value"),
        ('By="a\\"', "unterminated quoted value"),
        ('By=a"b"', "quote inside an unquoted value"),
        ('By="a"b', "text after a quoted value"),
        ('By="a"b"c"', "unescaped quote inside a quoted value"),
        ("By=a;by=b", "key by repeated in one element"),
        ("Hash=a;HASH=b", "key hash repeated in one element"),
        ("Cert=a;Cert=b", "key cert repeated in one element"),
    ],
)
def test_malformed_syntax_is_rejected(value: str, reason: str) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_xfcc_elements(value)
    assert info.value.header == XFCC_HEADER
    assert info.value.reason == reason


def test_overlong_value_is_rejected() -> None:
    with pytest.raises(CertificateHeaderError, match="value longer than"):
        parse_xfcc_elements("By=" + "a" * 262_144)


_SINGLE = {"by", "hash", "cert", "chain", "subject"}  # may not repeat within an element
_keys = st.builds(
    str.__add__, st.sampled_from("aBcUx"), st.text(alphabet="a1_.-Yz", max_size=6)
).filter(lambda k: k.lower() not in _SINGLE)
_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"),
    max_size=30,
)
_elements = st.lists(st.tuples(_keys, _values), min_size=1, max_size=5).map(tuple)


@settings(max_examples=100, deadline=None)
@given(elements=st.lists(_elements, min_size=1, max_size=4))
def test_format_then_tokenize_returns_the_same_pairs(elements) -> None:
    value = ",".join(format_xfcc_element(e) for e in elements)
    parsed = parse_xfcc_elements(value)
    assert [p.pairs for p in parsed] == [tuple((k.lower(), v) for k, v in e) for e in elements]


def test_format_quotes_only_when_needed() -> None:
    pairs = (("By", "plain"), ("Subject", 'CN="x", O=y'), ("URI", ""), ("DNS", " pad"))
    assert format_xfcc_element(pairs) == r'By=plain;Subject="CN=\"x\", O=y";URI="";DNS=" pad"'


@pytest.mark.parametrize("pairs", [(("bad key", "v"),), (("By", "a\r\nX-Injected: 1"),)])
def test_format_rejects_bad_keys_and_header_injection(pairs) -> None:
    with pytest.raises(ValueError, match="XFCC"):
        format_xfcc_element(pairs)


@settings(max_examples=200, deadline=None)
@given(value=st.text(alphabet=st.sampled_from('ab=;,"\\ \tCertChainHash%'), max_size=40))
def test_xfcc_shaped_text_only_raises_certificate_header_error(value: str) -> None:
    with pytest.raises(CertificateHeaderError):  # no certificate can be spelled in this alphabet
        parse_xfcc(value)


@settings(max_examples=150, deadline=None)
@given(value=st.text(max_size=80))
def test_arbitrary_text_only_raises_certificate_header_error(value: str) -> None:
    with pytest.raises(CertificateHeaderError):
        parse_xfcc(value)


# --- the certificate -------------------------------------------------------------------------


def test_cert_key_gives_the_leaf(pki) -> None:
    peer = parse_xfcc(f"Hash={sha256_hex(pki.client.cert)};Cert={url_pem(pki.client.cert)}")
    assert peer.chain == (pki.client.cert,)
    assert peer.source is CertificateSource.XFCC


def test_chain_key_gives_the_chain_leaf_first(pki) -> None:
    peer = parse_xfcc(f"Chain={url_pem(*pki.client.chain)}")
    assert peer.chain == pki.client.chain


def test_cert_and_chain_that_agree(pki) -> None:
    value = f'Cert="{url_pem(pki.client.cert)}";Chain={url_pem(*pki.client.chain)};DNS=x'
    assert parse_xfcc(value).chain == pki.client.chain


def test_upper_case_hash_matches(pki) -> None:
    value = f"Hash={sha256_hex(pki.client.cert).upper()};Cert={url_pem(pki.client.cert)}"
    assert parse_xfcc(value).leaf == pki.client.cert


def test_last_element_is_the_one_used(pki) -> None:
    earlier = f"By=spiffe://edge;Cert={url_pem(pki.other_client.cert)}"
    nearest = f'By=spiffe://us;Subject="CN=client-1, O=t";Cert={url_pem(pki.client.cert)}'
    assert parse_xfcc(f"{earlier},{nearest}").leaf == pki.client.cert
    assert parse_xfcc(f"{nearest}, {earlier}").leaf == pki.other_client.cert


def test_quoted_subject_with_commas_beside_the_certificate(pki) -> None:
    subject = r'Subject="/C=US/ST=CA/L=San Francisco, \"Bay\"/CN=Test Client"'
    assert parse_xfcc(f"{subject};Cert={url_pem(pki.client.cert)}").leaf == pki.client.cert


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (ENVOY_DOC_EXAMPLE, "last element has no Cert or Chain"),
        ("Cert=;Chain=", "last element has no Cert or Chain"),
        ("Cert=%FF", "Cert is not URL-encoded PEM"),
        ("Chain=%C3%A9", "Chain is not URL-encoded PEM"),
        ("Cert=hello", "Cert: unexpected text around the PEM certificate"),
        ("Chain=hello", "Chain: unexpected text around the PEM certificate"),
    ],
)
def test_malformed_certificate_values_are_rejected(value: str, reason: str) -> None:
    with pytest.raises(CertificateHeaderError) as info:
        parse_xfcc(value)
    assert info.value.reason == reason


def test_hash_mismatch_is_rejected(pki) -> None:
    value = f"Hash={sha256_hex(pki.other_client.cert)};Cert={url_pem(pki.client.cert)}"
    with pytest.raises(CertificateHeaderError, match="Hash does not match the certificate"):
        parse_xfcc(value)


def test_non_ascii_hash_is_a_mismatch(pki) -> None:
    with pytest.raises(CertificateHeaderError, match="Hash does not match"):
        parse_xfcc(f"Hash=\u00e9;Cert={url_pem(pki.client.cert)}")


def test_cert_with_two_certificates_is_rejected(pki) -> None:
    with pytest.raises(CertificateHeaderError, match="Cert holds more than one certificate"):
        parse_xfcc(f"Cert={url_pem(*pki.client.chain)}")


def test_cert_that_is_not_the_chain_leaf_is_rejected(pki) -> None:
    value = f"Cert={url_pem(pki.other_client.cert)};Chain={url_pem(*pki.client.chain)}"
    with pytest.raises(CertificateHeaderError, match="Cert is not the first certificate of Chain"):
        parse_xfcc(value)


def test_chain_longer_than_eleven_certificates_is_rejected(pki) -> None:
    value = f"Chain={url_pem(pki.client.cert, *[pki.intermediate.cert] * 11)}"
    with pytest.raises(CertificateHeaderError, match="more than 10 chain certificates"):
        parse_xfcc(value)


def test_non_certificate_der_is_rejected(csr_der: bytes) -> None:
    body = base64.b64encode(csr_der).decode("ascii")
    value = quote(f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n", safe="")
    with pytest.raises(CertificateHeaderError, match=r"leaf is not a DER X\.509 certificate"):
        parse_xfcc(f"Cert={value}")
