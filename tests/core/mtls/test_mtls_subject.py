"""RFC 8705 §2.1.2 matchers: subject DN (RFC 4514 / 4517 / 4518) and SAN dns, uri, ip, email."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import ExtensionOID, NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certbound.core.mtls import subject
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
from testpki import NOW, make_leaf

A = x509.NameAttribute
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")


def dn(*rdns: x509.NameAttribute[str] | tuple[x509.NameAttribute[str], ...]) -> x509.Name:
    """A Name from RDNs given most significant first (certificate order)."""
    return x509.Name(
        [x509.RelativeDistinguishedName(r if isinstance(r, tuple) else (r,)) for r in rdns]
    )


CLIENT = dn(
    A(NameOID.COUNTRY_NAME, "DE"),
    A(NameOID.ORGANIZATION_NAME, "Example Bank AG"),
    A(NameOID.ORGANIZATIONAL_UNIT_NAME, "Payments"),
    A(NameOID.COMMON_NAME, "client-1"),
)


# parse_dn ------------------------------------------------------------------------------------


def test_parse_dn_reverses_rfc4514_order_into_certificate_order() -> None:
    assert parse_dn("CN=a,O=b") == dn(
        A(NameOID.ORGANIZATION_NAME, "b"), A(NameOID.COMMON_NAME, "a")
    )


def test_attribute_name_table_is_a_case_insensitive_mapping() -> None:
    table = subject._PARSER_NAMES
    assert table.get("EmailAddress") == table["E"] == NameOID.EMAIL_ADDRESS
    assert table.get("NOPE") is None
    assert len(table) == len(set(table)) > 30


def test_parse_dn_accepts_attribute_names_in_any_case_and_long_forms() -> None:
    assert parse_dn("cn=a,o=b,c=DE") == parse_dn("CN=a,O=b,C=DE")
    assert parse_dn("commonName=a,organizationName=b") == parse_dn("CN=a,O=b")
    assert parse_dn("emailAddress=x@example.com") == parse_dn("E=x@example.com")
    assert parse_dn("serialNumber=42,SN=Doe,GN=Jane").rdns[::-1] == [
        x509.RelativeDistinguishedName([A(NameOID.SERIAL_NUMBER, "42")]),
        x509.RelativeDistinguishedName([A(NameOID.SURNAME, "Doe")]),
        x509.RelativeDistinguishedName([A(NameOID.GIVEN_NAME, "Jane")]),
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("CN=a\\,b", "a,b"),
        ("CN=a\\+b", "a+b"),
        ('CN=\\"q\\"', '"q"'),
        ("CN=\\41bc", "Abc"),
        ("CN=caf\\C3\\A9", "café"),
        ("CN=\\#1", "#1"),
        ("CN=\\ lead", " lead"),
    ],
)
def test_parse_dn_unescapes_values(text: str, value: str) -> None:
    assert parse_dn(text) == dn(A(NameOID.COMMON_NAME, value))


def test_parse_dn_reads_multi_valued_rdns() -> None:
    name = parse_dn("CN=a+UID=b,O=c")
    assert len(name.rdns) == 2
    assert set(name.rdns[1]) == {A(NameOID.COMMON_NAME, "a"), A(NameOID.USER_ID, "b")}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "empty distinguished name"),
        ("   ", "empty distinguished name"),
        ("garbage", "not an RFC 4514 distinguished name"),
        ("CN=a, O=b", "no spaces around"),
        ("NOPE=a", "'NOPE=a'"),
        ("CN=", "length"),
        ("C=DEU", "length"),
        ("CN=a+CN=a", "duplicate"),
        ("1.2.3.4=#zz", "Non-hexadecimal"),
        ("1.2.3.4=#c3", "utf-8"),
        ("3.1=a", "not an RFC 4514"),
    ],
)
def test_parse_dn_rejects_bad_input_with_a_message(text: str, hint: str) -> None:
    with pytest.raises(DistinguishedNameError, match="distinguished name") as info:
        parse_dn(text)
    assert hint in str(info.value)
    assert isinstance(info.value, ValueError)


# subject_dn_matches: structure ---------------------------------------------------------------


def test_dn_matches_the_same_dn_written_most_significant_last() -> None:
    assert subject_dn_matches("CN=client-1,OU=Payments,O=Example Bank AG,C=DE", CLIENT)
    assert subject_dn_matches(CLIENT, CLIENT)


def test_dn_written_in_certificate_order_does_not_match() -> None:
    assert not subject_dn_matches("C=DE,O=Example Bank AG,OU=Payments,CN=client-1", CLIENT)


@pytest.mark.parametrize(
    "registered",
    [
        "CN=client-1",  # the CN alone
        "CN=client-1,O=Example Bank AG,C=DE",  # subset
        "CN=client-1,OU=Payments,O=Example Bank AG,C=DE,DC=example",  # superset
        "OU=Payments,CN=client-1,O=Example Bank AG,C=DE",  # RDNs swapped
        "CN=client-2,OU=Payments,O=Example Bank AG,C=DE",  # another value
        "CN=client-1,O=Payments,O=Example Bank AG,C=DE",  # another attribute type
        "CN=client-1+OU=Payments,O=Example Bank AG,C=DE",  # two RDNs folded into one
        "CN=client-1,OU=Payments,O=Example Bank AG,C=DE\\,",  # unparsable junk at the end
    ],
)
def test_dn_that_is_not_the_whole_dn_does_not_match(registered: str) -> None:
    assert not subject_dn_matches(registered, CLIENT)


def test_multi_valued_rdn_matches_in_any_order_within_the_rdn() -> None:
    subject = dn(A(NameOID.ORGANIZATION_NAME, "c"), (A(NameOID.USER_ID, "b"), A(NameOID.COMMON_NAME, "a")))  # fmt: skip
    assert subject_dn_matches("CN=a+UID=b,O=c", subject)
    assert subject_dn_matches("UID=b+CN=a,O=c", subject)
    assert not subject_dn_matches("CN=a,UID=b,O=c", subject)
    assert not subject_dn_matches("CN=a,O=c", subject)


def test_unparsable_registered_dn_never_matches() -> None:
    assert not subject_dn_matches("", x509.Name([]))
    assert not subject_dn_matches("not a dn", CLIENT)


# subject_dn_matches: value matching rules ----------------------------------------------------


@pytest.mark.parametrize(
    "registered",
    [
        "cn=CLIENT-1,ou=payments,o=example bank ag,c=de",  # caseIgnoreMatch, country too
        "CN=client-1,OU=Payments,O=Example   Bank AG,C=DE",  # internal runs of spaces
        "CN=\\  client-1\\ ,OU=Payments,O=Example Bank AG,C=DE",  # leading and trailing spaces
        "CN=ＣＬＩＥＮＴ－１,OU=Payments,O=Example Bank AG,C=DE",  # NFKC (fullwidth forms)
        "CN=cli\u00adent-1,OU=Pay\u200bments,O=Example Bank AG,C=DE",  # mapped to nothing
        "CN=client-1,OU=Payments,O=Example\u00a0Bank\tAG,C=DE",  # NBSP and TAB are spaces
    ],
)
def test_directory_string_values_match_case_and_space_insensitively(registered: str) -> None:
    assert subject_dn_matches(registered, CLIENT)


def test_ia5_values_match_case_insensitively() -> None:
    subject = dn(A(NameOID.DOMAIN_COMPONENT, "Example"), A(NameOID.EMAIL_ADDRESS, "Ops@Example.com"))  # fmt: skip
    assert subject_dn_matches("emailAddress=ops@example.COM,DC=example", subject)
    assert not subject_dn_matches("emailAddress=ops@example.org,DC=example", subject)


def test_serial_number_and_country_match_case_insensitively() -> None:
    subject = dn(A(NameOID.COUNTRY_NAME, "de"), A(NameOID.SERIAL_NUMBER, "ab12 CD"))
    assert subject_dn_matches("serialNumber=AB12  cd,C=DE", subject)
    assert not subject_dn_matches("serialNumber=AB12CD,C=DE", subject)


def test_numeric_string_values_ignore_all_spaces() -> None:
    subject = dn(A(NameOID.INN, "7707 083893"))
    assert subject_dn_matches(f"{NameOID.INN.dotted_string}=770708 3893", subject)
    assert not subject_dn_matches(f"{NameOID.INN.dotted_string}=7707083894", subject)


def test_unknown_attribute_types_match_case_exactly_with_space_handling() -> None:
    subject = dn(A(UNKNOWN_OID, "Tenant  A"))
    assert subject_dn_matches(f"{UNKNOWN_OID.dotted_string}=Tenant A", subject)
    assert not subject_dn_matches(f"{UNKNOWN_OID.dotted_string}=tenant a", subject)


def test_bit_string_values_match_by_octets() -> None:
    uid = A(NameOID.X500_UNIQUE_IDENTIFIER, b"\x01\x02", _ASN1Type.BitString)
    subject = x509.Name([x509.RelativeDistinguishedName([uid])])
    assert subject_dn_matches(subject.rfc4514_string(), subject)
    assert subject_dn_matches("2.5.4.45=#0102", subject)
    assert not subject_dn_matches("2.5.4.45=#0103", subject)


def test_values_with_prohibited_code_points_match_only_themselves() -> None:
    subject = dn(A(NameOID.COMMON_NAME, "a\ue000"))  # private use: RFC 4518 §2.4 prohibits it
    assert subject_dn_matches("CN=a\ue000", subject)
    assert not subject_dn_matches("CN=A\ue000", subject)
    assert not subject_dn_matches("CN=a", subject)


# subject_dn_matches: properties --------------------------------------------------------------

_TEXT_TYPES = (
    NameOID.COMMON_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME,
    NameOID.STREET_ADDRESS,
    NameOID.SERIAL_NUMBER,
    NameOID.DOMAIN_COMPONENT,
    NameOID.EMAIL_ADDRESS,
    NameOID.USER_ID,
    UNKNOWN_OID,
)
# A value of one space does not survive cryptography's own rfc4514_string/parse round trip.
_ANY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=15).filter(
    lambda v: v != " "
)
_ASCII_TEXT = st.text(st.sampled_from("abcXYZ019-.@ "), min_size=1, max_size=12).filter(
    lambda v: v.strip()
)


@st.composite
def names(draw: st.DrawFn, values: st.SearchStrategy[str] = _ANY_TEXT) -> x509.Name:
    rdns = []
    for _ in range(draw(st.integers(1, 4))):
        oids = draw(st.lists(st.sampled_from(_TEXT_TYPES), min_size=1, max_size=3, unique=True))
        attrs = [A(oid, draw(values)) for oid in oids]
        if draw(st.booleans()):
            attrs.append(A(NameOID.COUNTRY_NAME, draw(st.sampled_from(["DE", "us", "Fr"]))))
        rdns.append(x509.RelativeDistinguishedName(attrs))
    return x509.Name(rdns)


def _vary(name: x509.Name, case: bool) -> x509.Name:
    def vary(attr: x509.NameAttribute[str]) -> x509.NameAttribute[str]:
        value = attr.value.swapcase() if case else attr.value
        if attr.oid == NameOID.COUNTRY_NAME:  # exactly two characters
            return A(attr.oid, value)
        return A(attr.oid, "  " + value.replace(" ", "   ") + " ")

    return x509.Name([x509.RelativeDistinguishedName([vary(a) for a in r]) for r in name.rdns])


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(names())
def test_property_a_name_matches_its_own_rfc4514_string(name: x509.Name) -> None:
    assert subject_dn_matches(name.rfc4514_string(), name)


@PROPERTY
@given(names(_ASCII_TEXT))
def test_property_case_and_space_variations_still_match(name: x509.Name) -> None:
    caseless = all(a.oid != UNKNOWN_OID for a in name)
    assert subject_dn_matches(_vary(name, case=caseless).rfc4514_string(), name)


@PROPERTY
@given(names(), st.data())
def test_property_dropping_adding_or_changing_an_rdn_never_matches(
    name: x509.Name, data: st.DataObject
) -> None:
    rdns = list(name.rdns)
    i = data.draw(st.integers(0, len(rdns) - 1))
    extra = x509.RelativeDistinguishedName([A(NameOID.TITLE, "extra")])
    changed = x509.RelativeDistinguishedName(
        [a if a.oid == NameOID.COUNTRY_NAME else A(a.oid, a.value + "x") for a in rdns[i]]
    )
    for variant in (rdns[:i] + rdns[i + 1 :], [*rdns[:i], extra, *rdns[i:]], [*rdns[:i], changed, *rdns[i + 1 :]]):  # fmt: skip
        assert not subject_dn_matches(x509.Name(variant).rfc4514_string(), name)
        assert not subject_dn_matches(x509.Name(variant), name)


_DN_PIECES = st.sampled_from(["CN", "cn", "O", "E", "1.2.3", "3.1", "=", ",", "+", "\\", "#", "a", " ", "\\2c", "#0c", "\x00", "é"])  # fmt: skip


@PROPERTY
@given(st.one_of(st.text(), st.lists(_DN_PIECES, max_size=12).map("".join)))
def test_property_parse_dn_raises_only_distinguished_name_error(text: str) -> None:
    with contextlib.suppress(DistinguishedNameError):
        assert isinstance(parse_dn(text), x509.Name)


# SAN matchers --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def san_cert() -> x509.Certificate:
    return make_leaf(
        None,
        "sans",
        dns=("client-1.Example.com", "*.wild.example.com"),
        uris=("https://Client.Example.com/Path?q=1", "spiffe://example.org/ns/a/sa/b"),
        ips=("192.0.2.7", "2001:db8::1"),
        emails=("Ops.Team@Example.com",),
    ).cert


@pytest.fixture(scope="module")
def no_san_cert() -> x509.Certificate:
    return make_leaf(None, "no-sans").cert


@pytest.fixture(scope="module")
def malformed_san_cert() -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([A(NameOID.COMMON_NAME, "malformed")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + dt.timedelta(days=1))
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"garbage"), False
        )
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("client-1.example.com", True),
        ("CLIENT-1.EXAMPLE.COM", True),
        ("*.wild.example.com", True),  # literal text, not a pattern
        ("a.wild.example.com", False),
        ("example.com", False),
        ("client-1.example.com.evil", False),
        ("clïent-1.example.com", False),
        ("", False),
    ],
)
def test_san_dns_matches_a_whole_dns_name_case_insensitively(
    san_cert: x509.Certificate, value: str, expected: bool
) -> None:
    assert san_dns_matches(san_cert, value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Client.Example.com/Path?q=1", True),
        ("HTTPS://client.example.COM/Path?q=1", True),  # scheme and host are case-insensitive
        ("https://client.example.com/path?q=1", False),  # the path is not
        ("https://client.example.com/Path", False),
        ("spiffe://example.org/ns/a/sa/b", True),
        ("spiffe://example.org/ns/a/sa", False),
        ("http://[::1", False),  # unparsable: compared as text only
    ],
)
def test_san_uri_matches_a_whole_uri(
    san_cert: x509.Certificate, value: str, expected: bool
) -> None:
    assert san_uri_matches(san_cert, value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("192.0.2.7", True),
        ("2001:db8::1", True),
        ("2001:DB8:0:0:0:0:0:1", True),  # compared as addresses, not as text
        ("192.0.2.8", False),
        ("::ffff:192.0.2.7", False),  # IPv4-mapped IPv6 is another address
        ("192.0.2.007", False),
        ("2001:db8::1%eth0", False),
        ("client-1.example.com", False),
        ("", False),
    ],
)
def test_san_ip_matches_the_same_address(
    san_cert: x509.Certificate, value: str, expected: bool
) -> None:
    assert san_ip_matches(san_cert, value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ops.Team@Example.com", True),
        ("Ops.Team@example.COM", True),  # RFC 5280 §7.5: the domain is case-insensitive
        ("ops.team@Example.com", False),  # the local part is not
        ("Example.com", False),
        ("@Example.com", False),
        ("Ops.Team@", False),
    ],
)
def test_san_email_matches_a_mailbox(
    san_cert: x509.Certificate, value: str, expected: bool
) -> None:
    assert san_email_matches(san_cert, value) is expected


@pytest.mark.parametrize(
    ("matcher", "value"),
    [
        (san_dns_matches, "client-1.example.com"),
        (san_uri_matches, "https://client.example.com/"),
        (san_ip_matches, "192.0.2.7"),
        (san_email_matches, "ops@example.com"),
    ],
)
def test_san_matchers_are_false_without_or_with_a_malformed_san_extension(
    matcher: Callable[[x509.Certificate, str], bool],
    value: str,
    no_san_cert: x509.Certificate,
    malformed_san_cert: x509.Certificate,
) -> None:
    assert matcher(no_san_cert, value) is False
    assert matcher(malformed_san_cert, value) is False


def test_san_matchers_do_not_cross_entry_types(san_cert: x509.Certificate) -> None:
    assert not san_dns_matches(san_cert, "192.0.2.7")
    assert not san_uri_matches(san_cert, "client-1.example.com")
    assert not san_email_matches(san_cert, "spiffe://example.org/ns/a/sa/b")


# normalize_ip --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),  # RFC 5952 §4.2.3: first longest run
        ("::FFFF:c000:0207", "::ffff:192.0.2.7"),  # RFC 5952 §5: IPv4-mapped in mixed notation
    ],
)
def test_normalize_ip_returns_canonical_text(value: str, canonical: str) -> None:
    assert normalize_ip(value) == canonical


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "does not appear to be an IPv4 or IPv6 address"),
        ("example.com", "does not appear to be an IPv4 or IPv6 address"),
        ("192.0.2.007", "does not appear"),
        ("192.0.2.0/24", "does not appear"),
        ("fe80::1%eth0", "zone identifier"),
    ],
)
def test_normalize_ip_rejects_non_addresses(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        normalize_ip(value)
