"""certbound.resource.gateway without sockets: its configuration and the headers it builds.

The forwarding itself runs over real listeners in tests/e2e/test_gateway_e2e.py.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.resource._proxy import hop_by_hop_names, request_headers, upstream_url
from certbound.resource.gateway import GatewayConfig, forwarding_headers, identity_headers
from certbound.resource.verifier import VerifiedAccessToken


def token(**overrides: Any) -> VerifiedAccessToken:
    values: dict[str, Any] = {
        "claims": MappingProxyType({}),
        "client_id": "svc",
        "subject": "svc",
        "scopes": frozenset({"write", "read"}),
        "cnf_thumbprint": "x" * 43,
        "expires_at": None,
    }
    return VerifiedAccessToken(**{**values, **overrides})


def scope(
    headers: list[tuple[bytes, bytes]], client: str = "192.0.2.1", **extra: Any
) -> dict[str, Any]:
    return {"type": "http", "scheme": "https", "path": "/a b", "raw_path": b"/a%20b",
            "query_string": b"", "headers": headers, "client": (client, 5000), **extra}  # fmt: skip


# --- GatewayConfig -----------------------------------------------------------------------------


def test_config_keeps_the_upstream_without_its_final_slash() -> None:
    assert GatewayConfig("http://127.0.0.1:8080/base/").upstream == "http://127.0.0.1:8080/base"


@pytest.mark.parametrize(
    ("upstream", "message"),
    [
        ("ftp://files.example", "must be an http:// or https:// URL with a host"),
        ("http:///nohost", "must be an http:// or https:// URL with a host"),
        ("http://h.example/?q=1", "no query, fragment or userinfo"),
        ("http://h.example/#top", "no query, fragment or userinfo"),
        ("http://user@h.example/", "no query, fragment or userinfo"),
    ],
)
def test_config_refuses_an_unusable_upstream(upstream: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GatewayConfig(upstream)


def test_config_refuses_a_malformed_scope() -> None:
    with pytest.raises(ValueError, match="scope-token"):
        GatewayConfig("http://h.example", required_scopes=("a b",))


@pytest.mark.parametrize("timeouts", [{"timeout": 0}, {"connect_timeout": -1.0}])
def test_config_refuses_timeouts_that_are_not_positive(timeouts: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        GatewayConfig("http://h.example", **timeouts)


# --- identity headers --------------------------------------------------------------------------


def test_identity_headers_name_the_verified_token() -> None:
    assert identity_headers(token()) == [
        (b"x-certbound-client-id", b"svc"),
        (b"x-certbound-subject", b"svc"),
        (b"x-certbound-scope", b"read write"),
        (b"x-certbound-cnf-x5t-s256", b"x" * 43),
    ]


def test_absent_claims_give_no_identity_header() -> None:
    bare = token(client_id=None, subject=None, scopes=frozenset(), cnf_thumbprint=None)
    assert identity_headers(bare) == []


@settings(max_examples=200)
@given(st.text(min_size=1))
def test_identity_header_values_are_printable_ascii_and_decode_to_the_claim(value: str) -> None:
    ((_, encoded),) = identity_headers(
        token(client_id=value, subject=None, scopes=frozenset(), cnf_thumbprint=None)
    )
    assert all(0x20 <= byte < 0x7F for byte in encoded)
    assert unquote(encoded.decode("ascii")) == value


# --- forwarding headers ---------------------------------------------------------------------


FORWARDED = [(b"X-Forwarded-For", b"203.0.113.9"), (b"x-forwarded-proto", b"http"),
             (b"x-forwarded-host", b"api.example"), (b"forwarded", b"for=203.0.113.9"),
             (b"host", b"gw.example")]  # fmt: skip


def test_forwarding_headers_from_anyone_describe_this_connection() -> None:
    assert forwarding_headers(scope(FORWARDED), trusted=False) == [
        (b"x-forwarded-for", b"192.0.2.1"),
        (b"x-forwarded-proto", b"https"),
        (b"x-forwarded-host", b"gw.example"),
    ]


def test_forwarding_headers_from_a_trusted_proxy_are_kept_and_extended() -> None:
    assert forwarding_headers(scope(FORWARDED), trusted=True) == [
        (b"x-forwarded-for", b"203.0.113.9, 192.0.2.1"),
        (b"x-forwarded-proto", b"http"),
        (b"x-forwarded-host", b"api.example"),
        (b"forwarded", b"for=203.0.113.9"),
    ]


# --- hop-by-hop fields and URLs -------------------------------------------------------------


def test_connection_names_more_hop_by_hop_fields() -> None:
    names = hop_by_hop_names([(b"Connection", b"close, X-Hop ,"), (b"x-other", b"1")])
    assert {b"x-hop", b"close", b"te", b"upgrade"} <= names and b"x-other" not in names


def test_request_headers_drop_hop_by_hop_host_expect_and_named_fields() -> None:
    headers = [(b"Host", b"gw"), (b"Expect", b"100-continue"), (b"Connection", b"x-hop"),
               (b"X-Hop", b"1"), (b"TE", b"trailers"), (b"X-Certbound-Role", b"admin"),
               (b"X-Drop", b"1"), (b"Accept", b"*/*")]  # fmt: skip
    kept = request_headers(
        scope(headers), drop=frozenset({b"x-drop"}), drop_prefixes=(b"x-certbound-",)
    )
    assert kept == [(b"accept", b"*/*")]


def test_upstream_url_keeps_the_raw_path_and_query() -> None:
    url = upstream_url("http://up:8080/base", scope([], query_string=b"a=%2F&b"))
    assert str(url) == "http://up:8080/base/a%20b?a=%2F&b"


def test_upstream_url_without_raw_path_uses_the_path() -> None:
    url = upstream_url("http://up:8080", {"path": "/x", "raw_path": None, "query_string": b""})
    assert str(url) == "http://up:8080/x"
