"""RFC 8705 §2.1.2: the ``tls_client_auth`` matchers (subject DN and SAN dns/uri/ip/email).

The subject DN is compared as a whole (RFC 4517 §4.2.15 distinguishedNameMatch): the same RDNs in
the same order, each RDN the same set of (type, value) pairs, values compared with the equality rule
of their attribute type after RFC 4518 string preparation:

========================================================  ===================================
attribute types                                           rule
========================================================  ===================================
CN O OU L ST street C serialNumber title SN GN initials    caseIgnoreMatch (RFC 4517 §4.2.11)
generationQualifier dnQualifier pseudonym UID
businessCategory postalCode postalAddress
organizationIdentifier jurisdiction{C,ST,L}
unstructuredName
DC emailAddress                                           caseIgnoreIA5Match (§4.2.12): the
                                                          same preparation as caseIgnoreMatch
INN OGRN SNILS (NumericString)                            numericStringMatch (§4.2.22)
x500UniqueIdentifier                                      bitStringMatch: equal octets
any other type                                            caseExactMatch (§4.2.4): no folding
========================================================  ===================================

Preparation (RFC 4518 §2): map (controls to nothing, separators to SPACE, case fold for the
caseIgnore rules), NFKC, prohibit, insignificant space handling (trim, collapse runs of spaces;
NumericString drops all spaces). A value with a prohibited code point (private use, unassigned,
surrogate, U+FFFD) cannot be prepared: it matches only an identical value.
"""

from __future__ import annotations

import ipaddress
import unicodedata
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = [
    "DistinguishedNameError",
    "normalize_ip",
    "parse_dn",
    "san_dns_matches",
    "san_email_matches",
    "san_ip_matches",
    "san_uri_matches",
    "subject_dn_matches",
]

_CASE_EXACT, _CASE_IGNORE, _NUMERIC, _BITS = "caseExact", "caseIgnore", "numeric", "bits"
_CASE_IGNORE_TYPES = (
    NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.LOCALITY_NAME, NameOID.STATE_OR_PROVINCE_NAME, NameOID.STREET_ADDRESS,
    NameOID.COUNTRY_NAME, NameOID.SERIAL_NUMBER, NameOID.TITLE, NameOID.SURNAME,
    NameOID.GIVEN_NAME, NameOID.INITIALS, NameOID.GENERATION_QUALIFIER, NameOID.DN_QUALIFIER,
    NameOID.PSEUDONYM, NameOID.USER_ID, NameOID.BUSINESS_CATEGORY, NameOID.POSTAL_CODE,
    NameOID.POSTAL_ADDRESS, NameOID.ORGANIZATION_IDENTIFIER, NameOID.JURISDICTION_COUNTRY_NAME,
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME, NameOID.JURISDICTION_LOCALITY_NAME,
    NameOID.UNSTRUCTURED_NAME, NameOID.DOMAIN_COMPONENT, NameOID.EMAIL_ADDRESS,
)  # fmt: skip
_RULES: dict[x509.ObjectIdentifier, str] = {
    **dict.fromkeys(_CASE_IGNORE_TYPES, _CASE_IGNORE),
    **dict.fromkeys((NameOID.INN, NameOID.OGRN, NameOID.SNILS), _NUMERIC),
    NameOID.X500_UNIQUE_IDENTIFIER: _BITS,
}

# Attribute type names accepted in RFC 4514 strings besides cryptography's own (CN L ST O OU C
# STREET DC UID); RFC 4512 §1.4: descriptors are case-insensitive.
_NAMES: dict[str, x509.ObjectIdentifier] = {
    "cn": NameOID.COMMON_NAME, "commonname": NameOID.COMMON_NAME,
    "l": NameOID.LOCALITY_NAME, "localityname": NameOID.LOCALITY_NAME,
    "st": NameOID.STATE_OR_PROVINCE_NAME, "stateorprovincename": NameOID.STATE_OR_PROVINCE_NAME,
    "o": NameOID.ORGANIZATION_NAME, "organizationname": NameOID.ORGANIZATION_NAME,
    "ou": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "organizationalunitname": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "c": NameOID.COUNTRY_NAME, "countryname": NameOID.COUNTRY_NAME,
    "street": NameOID.STREET_ADDRESS, "streetaddress": NameOID.STREET_ADDRESS,
    "dc": NameOID.DOMAIN_COMPONENT, "domaincomponent": NameOID.DOMAIN_COMPONENT,
    "uid": NameOID.USER_ID, "userid": NameOID.USER_ID,
    "serialnumber": NameOID.SERIAL_NUMBER, "sn": NameOID.SURNAME, "surname": NameOID.SURNAME,
    "gn": NameOID.GIVEN_NAME, "givenname": NameOID.GIVEN_NAME, "title": NameOID.TITLE,
    "initials": NameOID.INITIALS, "generationqualifier": NameOID.GENERATION_QUALIFIER,
    "dnqualifier": NameOID.DN_QUALIFIER, "pseudonym": NameOID.PSEUDONYM,
    "emailaddress": NameOID.EMAIL_ADDRESS, "e": NameOID.EMAIL_ADDRESS,
    "businesscategory": NameOID.BUSINESS_CATEGORY, "postalcode": NameOID.POSTAL_CODE,
    "organizationidentifier": NameOID.ORGANIZATION_IDENTIFIER,
}  # fmt: skip


class _CaseInsensitiveNames(Mapping[str, x509.ObjectIdentifier]):
    """The ``attr_name_overrides`` mapping handed to cryptography's RFC 4514 parser."""

    def __getitem__(self, key: str) -> x509.ObjectIdentifier:
        return _NAMES[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(_NAMES)

    def __len__(self) -> int:
        return len(_NAMES)


_PARSER_NAMES = _CaseInsensitiveNames()


class DistinguishedNameError(ValueError):
    """A registered subject DN is not a valid RFC 4514 string."""


def parse_dn(text: str) -> x509.Name:
    """Parse an RFC 4514 string (most significant RDN last) into a :class:`x509.Name`."""
    if not text.strip():
        raise DistinguishedNameError("empty distinguished name")
    try:
        return x509.Name.from_rfc4514_string(text, _PARSER_NAMES)
    except ValueError as exc:
        why = f": {exc}" if str(exc) else ""
        raise DistinguishedNameError(
            f"not an RFC 4514 distinguished name{why} (expected e.g. 'CN=client,O=Example,C=DE',"
            f" no spaces around ',' '+' '='): {text!r}"
        ) from None


# RFC 4518 §2.2: code points mapped to nothing; §2.2 also maps these to SPACE.
_TO_NOTHING = [0xAD, 0x1806, 0x34F, *range(0x180B, 0x180F), *range(0xFE00, 0xFE10), 0xFFFC]
_TO_NOTHING += [*range(0x00, 0x09), *range(0x0E, 0x20), *range(0x7F, 0x85), *range(0x86, 0xA0)]
_TO_NOTHING += [0x6DD, 0x70F, *range(0x200B, 0x2010), *range(0x202A, 0x202F)]
_TO_NOTHING += [*range(0x2060, 0x2064), *range(0x206A, 0x2070), 0xFEFF, *range(0xFFF9, 0xFFFC)]
_TO_NOTHING += [*range(0x1D173, 0x1D17B), 0xE0001, *range(0xE0020, 0xE0080)]
_MAP: dict[int, Any] = {**dict.fromkeys(_TO_NOTHING), **dict.fromkeys(b"\t\n\v\f\r\x85", " ")}


def _prepare(value: str, rule: str) -> str | None:
    """RFC 4518 §2 string preparation; None when a prohibited code point remains (§2.4)."""
    mapped = value.translate(_MAP)
    mapped = "".join(" " if unicodedata.category(c)[0] == "Z" else c for c in mapped)
    if rule == _CASE_IGNORE:
        mapped = mapped.casefold()
    prepared = unicodedata.normalize("NFKC", mapped)
    if any(c == "\ufffd" or unicodedata.category(c) in ("Co", "Cn", "Cs") for c in prepared):
        return None
    if rule == _NUMERIC:
        return prepared.replace(" ", "")
    return " ".join(part for part in prepared.split(" ") if part)


def _attribute_key(attr: x509.NameAttribute[Any]) -> tuple[str, int, str]:
    oid, value = attr.oid, attr.value
    rule = _RULES.get(oid, _CASE_EXACT)
    if isinstance(value, bytes) or rule == _BITS:
        raw = value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")
        return (oid.dotted_string, 2, raw.hex())
    prepared = _prepare(value, rule)
    if prepared is None:
        return (oid.dotted_string, 1, value)
    return (oid.dotted_string, 0, prepared)


def _dn_key(name: x509.Name) -> list[list[tuple[str, int, str]]]:
    return [sorted(_attribute_key(a) for a in rdn) for rdn in name.rdns]


def subject_dn_matches(registered: str | x509.Name, subject: x509.Name) -> bool:
    """§2.1.2 ``tls_client_auth_subject_dn``: whole-DN equality; an unparsable string is False."""
    if isinstance(registered, str):
        try:
            registered = parse_dn(registered)
        except DistinguishedNameError:
            return False
    return _dn_key(registered) == _dn_key(subject)


def _san_values(cert: x509.Certificate, kind: type[x509.GeneralName]) -> list[Any]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):  # absent, or malformed extensions
        return []
    return list(san.get_values_for_type(kind))  # type: ignore[arg-type]


def san_dns_matches(cert: x509.Certificate, value: str) -> bool:
    """§2.1.2 ``tls_client_auth_san_dns``: a dNSName entry equals ``value`` (ASCII case-insensitive,
    RFC 4343); wildcards are literal text, not patterns."""
    wanted = value.lower() if value.isascii() else None
    return wanted is not None and any(v.lower() == wanted for v in _san_values(cert, x509.DNSName))


def _normalize_uri(uri: str) -> str:
    """RFC 3986 §6.2.2.1: scheme and host are case-insensitive; nothing else is normalised."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return uri
    userinfo, at, hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{hostport.lower()}"
    return urllib.parse.urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=netloc))


def san_uri_matches(cert: x509.Certificate, value: str) -> bool:
    """§2.1.2 ``tls_client_auth_san_uri``: a uniformResourceIdentifier entry equals ``value``."""
    wanted = _normalize_uri(value)
    values = _san_values(cert, x509.UniformResourceIdentifier)
    return any(v == value or _normalize_uri(v) == wanted for v in values)


def normalize_ip(value: str) -> str:
    """Canonical text of an IPv4 or IPv6 address (RFC 5952 for IPv6); ``ValueError`` otherwise."""
    address = ipaddress.ip_address(value)
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
        raise ValueError(f"an IP address SAN has no zone identifier: {value!r}")
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return f"::ffff:{address.ipv4_mapped}"  # RFC 5952 §5
    return str(address)


def san_ip_matches(cert: x509.Certificate, value: str) -> bool:
    """§2.1.2 ``tls_client_auth_san_ip``: an iPAddress entry is the same address as ``value``."""
    try:
        wanted = ipaddress.ip_address(normalize_ip(value))
    except ValueError:
        return False
    return any(v == wanted for v in _san_values(cert, x509.IPAddress))


def san_email_matches(cert: x509.Certificate, value: str) -> bool:
    """§2.1.2 ``tls_client_auth_san_email``: an rfc822Name entry equals ``value``; RFC 5280 §7.5:
    the local part is case-sensitive, the domain is not."""
    local, at, domain = value.rpartition("@")
    if not (local and at and domain):
        return False
    for entry in _san_values(cert, x509.RFC822Name):
        e_local, _, e_domain = entry.rpartition("@")
        if e_local == local and e_domain.lower() == domain.lower():
            return True
    return False
