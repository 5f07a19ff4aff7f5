"""The trusted-proxy allow-list."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest

from certbound.certsource import TrustedProxies


def test_from_cidrs_accepts_networks_and_single_addresses() -> None:
    proxies = TrustedProxies.from_cidrs(["10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::1"])
    assert proxies.networks == (
        ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv4Network("192.0.2.7/32"),
        ipaddress.IPv6Network("2001:db8::/32"),
        ipaddress.IPv6Network("::1/128"),
    )


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "not-an-ip", "10.0.0.0/33", "", "localhost"])
def test_from_cidrs_names_the_bad_entry(entry: str) -> None:
    with pytest.raises(ValueError, match="trusted proxy") as info:
        TrustedProxies.from_cidrs(["127.0.0.1", entry])
    assert repr(entry) in str(info.value)


def test_from_cidrs_rejects_a_non_string_entry() -> None:
    with pytest.raises(ValueError, match="trusted proxy 7 is not"):
        TrustedProxies.from_cidrs([7])  # type: ignore[list-item]


def test_from_cidrs_refuses_a_bare_string() -> None:
    with pytest.raises(TypeError, match="not one string"):
        TrustedProxies.from_cidrs("10.0.0.0/8")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.1.2.3", True),
        ("11.0.0.1", False),
        ("192.0.2.7", True),
        ("192.0.2.8", False),
        ("2001:db8::5", True),
        ("2001:db9::5", False),
        ("::1", True),
        ("::ffff:10.1.2.3", True),  # IPv4-mapped, from a dual-stack socket
        ("::ffff:11.0.0.1", False),
        ("fe80::1%eth0", False),
        (None, False),
        ("", False),
        ("/run/certbound.sock", False),  # a Unix socket peer
        ("localhost", False),  # names are never trusted
    ],
)
def test_contains(host: str | None, expected: bool) -> None:
    proxies = TrustedProxies.from_cidrs(["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"])
    assert proxies.contains(host) is expected


def test_scoped_link_local_address_matches_its_network() -> None:
    assert TrustedProxies.from_cidrs(["fe80::/10"]).contains("fe80::1%eth0")


def test_mapped_address_also_matches_a_listed_mapped_network() -> None:
    assert TrustedProxies.from_cidrs(["::ffff:10.0.0.1"]).contains("::ffff:10.0.0.1")


def test_default_trusts_nobody() -> None:
    assert not TrustedProxies().contains("127.0.0.1")
    assert not TrustedProxies.from_cidrs([]).contains("::1")


def test_is_immutable() -> None:
    proxies = TrustedProxies.from_cidrs(["10.0.0.0/8"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        proxies.networks = ()  # type: ignore[misc]
