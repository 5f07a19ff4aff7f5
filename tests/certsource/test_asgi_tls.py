"""The ASGI TLS extension as a certificate source."""

from __future__ import annotations

from typing import Any

import pytest

from certbound.certsource import (
    CertificateHeaderError,
    CertificateSourceError,
    peer_from_asgi_scope,
)
from certbound.core.mtls.certificate import CertificateSource

from .conftest import pem


def tls_scope(chain: Any, **tls: Any) -> dict[str, Any]:
    extension = {"tls_version": 0x0304, "cipher_suite": 0x1301, **tls}
    if chain is not ...:
        extension["client_cert_chain"] = chain
    return {"type": "http", "extensions": {"tls": extension}}


def test_chain_is_read_leaf_first(pki) -> None:
    peer = peer_from_asgi_scope(tls_scope([pem(c) for c in pki.client.chain]))
    assert peer is not None
    assert peer.chain == pki.client.chain
    assert peer.source is CertificateSource.TLS


def test_tuple_chain_is_accepted(pki) -> None:
    peer = peer_from_asgi_scope(tls_scope((pem(pki.self_signed.cert),)))
    assert peer is not None
    assert peer.leaf == pki.self_signed.cert


@pytest.mark.parametrize(
    "scope",
    [
        {"type": "http"},
        {"type": "http", "extensions": None},
        {"type": "http", "extensions": {}},
        {"type": "http", "extensions": {"tls": None}},
        tls_scope(...),
        tls_scope(None),
        tls_scope([]),
    ],
    ids=[
        "no-extensions",
        "extensions-none",
        "no-tls",
        "tls-none",
        "no-chain",
        "chain-none",
        "empty",
    ],
)
def test_no_client_certificate_gives_none(scope: dict[str, Any]) -> None:
    assert peer_from_asgi_scope(scope) is None


@pytest.mark.parametrize(
    ("chain", "reason"),
    [
        ("-----BEGIN CERTIFICATE-----", "client_cert_chain is not a list of PEM strings"),
        ({"a": 1}, "client_cert_chain is not a list of PEM strings"),
        ([b"-----BEGIN CERTIFICATE-----"], "client_cert_chain entry is not a PEM string"),
        (["garbage"], "unexpected text around the PEM certificate"),
        (["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"], "leaf is not a DER"),
    ],
)
def test_malformed_extension_is_a_source_error(chain: Any, reason: str) -> None:
    with pytest.raises(CertificateSourceError) as info:
        peer_from_asgi_scope(tls_scope(chain))
    assert not isinstance(info.value, CertificateHeaderError)
    assert info.value.origin == "TLS client certificate"
    assert info.value.reason.startswith(reason)


def test_entry_with_two_certificates_is_rejected(pki) -> None:
    with pytest.raises(CertificateSourceError, match="entry holds more than one certificate"):
        peer_from_asgi_scope(tls_scope([pki.client.chain_pem.decode("ascii")]))


def test_bad_intermediate_is_numbered(pki) -> None:
    bad = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"
    with pytest.raises(CertificateSourceError, match="chain certificate 1 is not a DER"):
        peer_from_asgi_scope(tls_scope([pem(pki.client.cert), bad]))


def test_more_than_ten_intermediates_are_rejected(pki) -> None:
    chain = [pem(pki.client.cert)] + [pem(pki.intermediate.cert)] * 11
    with pytest.raises(CertificateSourceError, match="more than 10 chain certificates"):
        peer_from_asgi_scope(tls_scope(chain))


def test_overlong_entry_is_rejected() -> None:
    with pytest.raises(CertificateSourceError, match="value longer than"):
        peer_from_asgi_scope(tls_scope([" " * 262_145]))


def test_empty_entry_has_no_certificate() -> None:
    with pytest.raises(CertificateSourceError, match="no PEM certificate"):
        peer_from_asgi_scope(tls_scope([""]))
