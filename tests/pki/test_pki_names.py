"""Subjects (RFC 4514) and SANs (RFC 5280 §4.2.1.6): valid input accepted, bad input named."""

from __future__ import annotations

import ipaddress
import re

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from certbound.pki import PkiError, SubjectAltNames, parse_subject
from certbound.pki._names import check_ip_network


def test_subject_round_trips_rfc4514() -> None:
    name = parse_subject("CN=client-1,O=Acme,C=DE")
    assert name.rfc4514_string() == "CN=client-1,O=Acme,C=DE"
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "client-1"


def test_subject_keeps_multi_valued_rdns_and_escapes() -> None:
    name = parse_subject(r"CN=a\,b+UID=42,O=Acme")
    assert len(name.rdns[-1]) == 2
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "a,b"


def test_empty_subject_is_an_empty_name() -> None:
    assert len(parse_subject("")) == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("FOO=bar", "not an RFC 4514 distinguished name"),
        ("garbage", "not an RFC 4514 distinguished name"),
        ("CN=" + "a" * 70, "length must be >= 1 and <= 64"),
    ],
)
def test_bad_subject_is_named(text: str, reason: str) -> None:
    with pytest.raises(PkiError, match=reason) as info:
        parse_subject(text)
    assert str(info.value).startswith(f"invalid subject {text!r}")


def test_sans_parse_every_type_in_order() -> None:
    sans = SubjectAltNames.parse(
        dns=["Client-1.Example.COM.", "*.api.example.com"],
        uri=["spiffe://acme.example/ns/prod/sa/client-1"],
        ip=["127.0.0.1", "2001:DB8::1"],
        email=["ops@example.com"],
    )
    assert sans.dns == ("client-1.example.com", "*.api.example.com")
    assert sans.ip == (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("2001:db8::1"))
    assert sans.general_names() == [
        x509.DNSName("client-1.example.com"),
        x509.DNSName("*.api.example.com"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("2001:db8::1")),
        x509.UniformResourceIdentifier("spiffe://acme.example/ns/prod/sa/client-1"),
        x509.RFC822Name("ops@example.com"),
    ]
    assert sans
    assert sans.first_name() == "client-1.example.com"


def test_empty_sans_are_falsy_and_have_no_first_name() -> None:
    assert not SubjectAltNames()
    assert SubjectAltNames().first_name() is None
    assert SubjectAltNames.parse(ip=["10.0.0.1"]).first_name() == "10.0.0.1"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dns": ["127.0.0.1"]}, "--dns '127.0.0.1' is an IP address: give it with --ip"),
        ({"dns": ["bad_name.example"]}, "--dns 'bad_name.example' is not a DNS name"),
        ({"dns": ["bücher.example"]}, "is not a DNS name (ASCII labels; IDNs as A-labels)"),
        ({"dns": ["*.com"]}, "--dns '*.com' is not a DNS name"),
        ({"dns": ["-lead.example"]}, "is not a DNS name"),
        ({"dns": [""]}, "is not a DNS name"),
        ({"uri": ["no-scheme"]}, "--uri 'no-scheme' is not an absolute URI"),
        ({"uri": ["https://exa mple"]}, "is not an absolute URI"),
        ({"ip": ["300.1.1.1"]}, "--ip '300.1.1.1' is not an IPv4 or IPv6 address"),
        ({"email": ["no-at-sign"]}, "--email 'no-at-sign' is not an e-mail address"),
        ({"email": ["a b@example.com"]}, "is not an e-mail address"),
        ({"email": ["ops@bad_domain"]}, "--email domain 'bad_domain' is not a DNS name"),
    ],
)
def test_bad_san_is_named(kwargs: dict[str, list[str]], message: str) -> None:
    with pytest.raises(PkiError) as info:
        SubjectAltNames.parse(**kwargs)
    assert message in str(info.value)


def test_ip_network_must_be_cidr() -> None:
    assert str(check_ip_network("10.0.0.0/8", what="--permitted-ip")) == "10.0.0.0/8"
    with pytest.raises(
        PkiError, match=re.escape("--permitted-ip '10.0.0.1/8' is not an IP network")
    ):
        check_ip_network("10.0.0.1/8", what="--permitted-ip")
