"""Name constraints for a CA (RFC 5280 §4.2.1.10), parsed from command-line strings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509

from certbound.pki._names import IPNetwork, check_dns_name, check_ip_network

__all__ = ["NameConstraintsSpec"]


@dataclass(frozen=True, slots=True)
class NameConstraintsSpec:
    """RFC 5280 §4.2.1.10 subtrees; DNS and e-mail as domains, URIs as hosts, IPs as networks."""

    permitted_dns: tuple[str, ...] = ()
    permitted_email: tuple[str, ...] = ()
    permitted_uri: tuple[str, ...] = ()
    permitted_ip: tuple[IPNetwork, ...] = ()
    excluded_dns: tuple[str, ...] = ()
    excluded_email: tuple[str, ...] = ()
    excluded_uri: tuple[str, ...] = ()
    excluded_ip: tuple[IPNetwork, ...] = ()

    @classmethod
    def parse(
        cls,
        *,
        permitted_dns: Sequence[str] = (),
        permitted_email: Sequence[str] = (),
        permitted_uri: Sequence[str] = (),
        permitted_ip: Sequence[str] = (),
        excluded_dns: Sequence[str] = (),
        excluded_email: Sequence[str] = (),
        excluded_uri: Sequence[str] = (),
        excluded_ip: Sequence[str] = (),
    ) -> NameConstraintsSpec:
        """From command-line strings; :class:`PkiError` names the first bad one."""
        return cls(
            permitted_dns=_domains(permitted_dns, "--permitted-dns"),
            permitted_email=_domains(permitted_email, "--permitted-email", email=True),
            permitted_uri=_domains(permitted_uri, "--permitted-uri"),
            permitted_ip=tuple(check_ip_network(v, what="--permitted-ip") for v in permitted_ip),
            excluded_dns=_domains(excluded_dns, "--excluded-dns"),
            excluded_email=_domains(excluded_email, "--excluded-email", email=True),
            excluded_uri=_domains(excluded_uri, "--excluded-uri"),
            excluded_ip=tuple(check_ip_network(v, what="--excluded-ip") for v in excluded_ip),
        )

    @staticmethod
    def _names(
        dns: tuple[str, ...],
        email: tuple[str, ...],
        uri: tuple[str, ...],
        ip: tuple[IPNetwork, ...],
    ) -> list[x509.GeneralName] | None:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
        names += [x509.RFC822Name(e) for e in email]
        names += [x509.UniformResourceIdentifier(u) for u in uri]
        names += [x509.IPAddress(n) for n in ip]
        return names or None

    def extension(self) -> x509.NameConstraints | None:
        permitted = self._names(
            self.permitted_dns, self.permitted_email, self.permitted_uri, self.permitted_ip
        )
        excluded = self._names(
            self.excluded_dns, self.excluded_email, self.excluded_uri, self.excluded_ip
        )
        if permitted is None and excluded is None:
            return None
        return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=excluded)


def _domains(values: Sequence[str], what: str, *, email: bool = False) -> tuple[str, ...]:
    """DNS and URI subtrees are host names or domains (a leading dot allowed); e-mail subtrees
    are a mailbox or a domain (RFC 5280 §4.2.1.10)."""
    out = []
    for value in values:
        text = value.strip()
        host = text.rpartition("@")[2] if email else text
        check_dns_name(host.removeprefix("."), what=what)
        out.append(text)
    return tuple(out)
