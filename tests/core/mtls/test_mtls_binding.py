"""RFC 8705 §3: the ``cnf`` claim and its check against the caller's certificate."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.core.errors import InvalidTokenError
from certbound.core.mtls.binding import (
    NO_CERTIFICATE,
    NOT_BOUND,
    OTHER_CERTIFICATE,
    check_binding,
    cnf_thumbprint,
    confirmation,
)
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate, x5t_s256


@pytest.fixture(scope="module")
def client(pki) -> PeerCertificate:
    return PeerCertificate(pki.client.chain, CertificateSource.TLS)


@pytest.fixture(scope="module")
def other(pki) -> PeerCertificate:
    return PeerCertificate(pki.other_client.chain, CertificateSource.RFC9440)


def test_confirmation_is_the_leaf_thumbprint(pki, client) -> None:
    assert confirmation(client) == {"x5t#S256": x5t_s256(pki.client.cert)}


def test_token_bound_to_the_presented_certificate_passes(client) -> None:
    check_binding({"cnf": confirmation(client)}, client)
    check_binding({"cnf": confirmation(client)}, client, require=False)


def test_token_bound_to_another_certificate_fails_naming_both(client, other) -> None:
    with pytest.raises(InvalidTokenError) as info:
        check_binding({"cnf": confirmation(client)}, other)
    assert info.value.description == OTHER_CERTIFICATE
    assert info.value.detail == f"cnf x5t#S256 {client.thumbprint}, presented {other.thumbprint}"


@pytest.mark.parametrize("require", [True, False])
def test_bound_token_without_a_certificate_fails(client, require) -> None:
    with pytest.raises(InvalidTokenError) as info:
        check_binding({"cnf": confirmation(client)}, None, require=require)
    assert info.value.description == NO_CERTIFICATE
    assert info.value.error == "invalid_token"
    assert info.value.status_code == 401


@pytest.mark.parametrize("peer_fixture", ["client", None])
def test_unbound_token_fails_only_when_binding_is_required(request, peer_fixture) -> None:
    peer = request.getfixturevalue(peer_fixture) if peer_fixture else None
    with pytest.raises(InvalidTokenError) as info:
        check_binding({"sub": "x"}, peer)
    assert info.value.description == NOT_BOUND
    assert info.value.detail == "no cnf claim and bound tokens are required"
    check_binding({"sub": "x"}, peer, require=False)


@pytest.mark.parametrize(
    ("cnf", "description", "detail"),
    [
        ("abc", "the token's confirmation (cnf) claim is malformed", "cnf is a str"),
        (
            {"jkt": "abc"},
            "the token is bound by a method other than a client certificate",
            "cnf members: jkt",
        ),
        ({}, "the token is bound by a method other than a client certificate", "cnf members: none"),
        (
            {"x5t#S256": 7},
            "the token's confirmation (cnf) claim is malformed",
            "cnf x5t#S256 is not a non-empty string",
        ),
        (
            {"x5t#S256": ""},
            "the token's confirmation (cnf) claim is malformed",
            "cnf x5t#S256 is not a non-empty string",
        ),
    ],
    ids=["not-object", "jkt", "empty", "not-string", "empty-string"],
)
@pytest.mark.parametrize("require", [True, False])
def test_malformed_or_foreign_cnf_fails_even_when_not_required(
    client, cnf: Any, description: str, detail: str, require: bool
) -> None:
    with pytest.raises(InvalidTokenError) as info:
        check_binding({"cnf": cnf}, client, require=require)
    assert (info.value.description, info.value.detail) == (description, detail)


def test_cnf_thumbprint_reads_the_member_or_none(client) -> None:
    assert cnf_thumbprint({"cnf": {"x5t#S256": "t", "other": 1}}) == "t"
    assert cnf_thumbprint({}) is None


@settings(max_examples=150, deadline=None)
@given(thumbprint=st.text(min_size=1, max_size=64))
def test_any_other_thumbprint_is_refused(pki, thumbprint: str) -> None:
    peer = PeerCertificate(pki.client.chain, CertificateSource.TLS)
    if thumbprint == peer.thumbprint:
        check_binding({"cnf": {"x5t#S256": thumbprint}}, peer)
        return
    with pytest.raises(InvalidTokenError, match=OTHER_CERTIFICATE):
        check_binding({"cnf": {"x5t#S256": thumbprint}}, peer)
