"""Subject names (RFC 4514 strings) and subject alternative names (RFC 5280 §4.2.1.6)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from cryptography import x509

from certbound.pki._errors import PkiError

__all__ = [
    "IPAddress",
    "IPNetwork",
    "SubjectAltNames",
    "check_dns_name",
    "check_ip_network",
    "parse_subject",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:\S+")


def parse_subject(text: str) -> x509.Name:
    """Parse an RFC 4514 distinguished name such as ``CN=client-1,O=Acme`` (may be empty)."""
    try:
        return x509.Name.from_rfc4514_string(text.strip())
    except ValueError as exc:
        reason = str(exc) or "not an RFC 4514 distinguished name (e.g. CN=client-1,O=Acme)"
        raise PkiError(f"invalid subject {text!r}: {reason}") from None


def check_dns_name(name: str, *, what: str = "--dns") -> str:
    host = name.strip().lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise PkiError(f"{what} {name!r} is an IP address: give it with --ip")
    labels = host.split(".")
    if labels[0] == "*" and len(labels) > 2:
        labels = labels[1:]  # one leading wildcard label (RFC 6125 §6.4.3)
    if not host.isascii() or len(host) > 253 or not all(_LABEL.fullmatch(p) for p in labels):
        raise PkiError(f"{what} {name!r} is not a DNS name (ASCII labels; IDNs as A-labels)")
    return host


def _check_email(address: str) -> str:
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not address.isascii() or any(c.isspace() for c in local):
        raise PkiError(f"--email {address!r} is not an e-mail address (local@domain)")
    return f"{local}@{check_dns_name(domain, what='--email domain')}"


def _check_uri(uri: str) -> str:
    if not uri.isascii() or not _SCHEME.fullmatch(uri.strip().lower()):
        raise PkiError(f"--uri {uri!r} is not an absolute URI (scheme:rest, e.g. spiffe://...)")
    return uri.strip()


def _check_ip(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise PkiError(f"--ip {text!r} is not an IPv4 or IPv6 address") from None


def check_ip_network(text: str, *, what: str) -> IPNetwork:
    """An IP network in CIDR form (``10.0.0.0/8``, ``2001:db8::/32``)."""
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError:
        raise PkiError(f"{what} {text!r} is not an IP network (CIDR, e.g. 10.0.0.0/8)") from None


@dataclass(frozen=True, slots=True)
class SubjectAltNames:
    """The SAN entries of a new certificate, by type, in the order given."""

    dns: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()
    ip: tuple[IPAddress, ...] = ()
    email: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        *,
        dns: tuple[str, ...] | list[str] = (),
        uri: tuple[str, ...] | list[str] = (),
        ip: tuple[str, ...] | list[str] = (),
        email: tuple[str, ...] | list[str] = (),
    ) -> SubjectAltNames:
        """Validate command-line style strings; :class:`PkiError` names the first bad one."""
        return cls(
            dns=tuple(check_dns_name(d) for d in dns),
            uri=tuple(_check_uri(u) for u in uri),
            ip=tuple(_check_ip(i) for i in ip),
            email=tuple(_check_email(e) for e in email),
        )

    def __bool__(self) -> bool:
        return bool(self.dns or self.uri or self.ip or self.email)

    def general_names(self) -> list[x509.GeneralName]:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in self.dns]
        names += [x509.IPAddress(i) for i in self.ip]
        names += [x509.UniformResourceIdentifier(u) for u in self.uri]
        names += [x509.RFC822Name(e) for e in self.email]
        return names

    def first_name(self) -> str | None:
        """The first DNS name or IP address (a server's default common name)."""
        if self.dns:
            return self.dns[0]
        return str(self.ip[0]) if self.ip else None
