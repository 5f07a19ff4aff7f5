"""The peers whose certificate headers are believed (RFC 9440 §4, "Security Considerations").

A certificate header is only as trustworthy as the hop that set it: it is read only when the
TCP peer of this connection (``scope["client"][0]``) is in :class:`TrustedProxies`. The
default is empty, so header sources are off until an operator lists the proxies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["IPNetwork", "TrustedProxies"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """An allow-list of proxy networks; single addresses are /32 or /128 networks."""

    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_cidrs(cls, cidrs: Iterable[str]) -> TrustedProxies:
        """Parse CIDRs (``10.0.0.0/8``, ``::1``, ``192.0.2.7``).

        Raises ``ValueError`` naming the first bad entry, including a network with host
        bits set (``10.0.0.1/8``), which is usually a typo for a single address.
        """
        if isinstance(cidrs, str):
            raise TypeError("from_cidrs takes an iterable of CIDR strings, not one string")
        networks: list[IPNetwork] = []
        for entry in cidrs:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=True))
            except (ValueError, TypeError, AttributeError) as exc:
                raise ValueError(f"trusted proxy {entry!r} is not an IP address or CIDR") from exc
        return cls(tuple(networks))

    def contains(self, host: str | None) -> bool:
        """True when ``host`` (an ASGI ``client`` host) is an IP inside a trusted network.

        None, Unix socket paths and names are never trusted. An IPv4-mapped IPv6 address
        (``::ffff:10.0.0.1``, from a dual-stack socket) also matches as its IPv4 address.
        """
        if not host or not self.networks:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [address]
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            candidates.append(address.ipv4_mapped)
        return any(a in network for a in candidates for network in self.networks)
