"""Shared fixtures: a session-scoped run-time PKI (see tests/testpki.py); no CERTBOUND_* settings."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from testpki import NOW, Issued, make_ca, make_leaf, make_server


@dataclass(frozen=True)
class TestPKI:
    root: Issued
    intermediate: Issued
    server: Issued
    client: Issued  # CN=client-1, SAN dns client-1.example.com
    other_client: Issued  # CN=client-2
    expired: Issued
    wrong_eku: Issued  # serverAuth only
    self_signed: Issued
    self_signed_ca_trap: Issued  # self-signed CA:TRUE
    foreign_root: Issued
    foreign_client: Issued  # chains to foreign_root, not to root


@pytest.fixture(scope="session")
def pki() -> TestPKI:
    root = make_ca("Test Root CA")
    inter = make_ca("Test Issuing CA", issuer=root, path_length=0)
    foreign_root = make_ca("Foreign Root CA")
    return TestPKI(
        root=root,
        intermediate=inter,
        server=make_server(inter),
        client=make_leaf(inter, "client-1", dns=("client-1.example.com",)),
        other_client=make_leaf(inter, "client-2", dns=("client-2.example.com",)),
        expired=make_leaf(
            inter,
            "client-expired",
            not_before=NOW - dt.timedelta(days=10),
            not_after=NOW - dt.timedelta(days=1),
        ),
        wrong_eku=make_leaf(inter, "client-wrong-eku", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)),
        self_signed=make_leaf(None, "self-signed-client"),
        self_signed_ca_trap=make_leaf(None, "self-signed-ca", ca=True),
        foreign_root=foreign_root,
        foreign_client=make_leaf(foreign_root, "client-1"),
    )


@pytest.fixture
def no_certbound_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CERTBOUND_* setting from the caller's environment reaches the code under test."""
    for name in list(os.environ):
        if name.startswith("CERTBOUND_"):
            monkeypatch.delenv(name)
