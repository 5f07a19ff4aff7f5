"""certbound.client._auth, the pure parts: renewal margin, reuse rule, RFC 6750 §3 challenges.

Fetching, caching, renewal and the retry against the real AS and an API are in
tests/e2e/test_client_e2e.py.
"""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.client import TokenResponse
from certbound.client._auth import _Cached, bearer_error, refresh_margin


@pytest.mark.parametrize(
    ("expires_in", "margin"),
    [
        (3600, 360.0),
        (600, 60.0),
        (300, 30.0),
        (100, 30.0),
        (60, 30.0),
        (30, 15.0),
        (2, 1.0),
        (0, 0.0),
    ],
)
def test_margin_is_max_30s_or_10_percent_capped_at_half(expires_in: int, margin: float) -> None:
    assert refresh_margin(expires_in) == margin


@settings(max_examples=150)
@given(st.integers(min_value=0, max_value=10**7))
def test_margin_leaves_half_the_lifetime_and_renews_early_enough(expires_in: int) -> None:
    margin = refresh_margin(expires_in)
    assert 0 <= margin <= expires_in / 2  # a token is reused for at least half its life
    assert margin >= min(30, expires_in / 2)  # at least 30 s early when the lifetime allows
    assert margin >= expires_in / 10  # and at least 10 % early


def token(value: str = "t1") -> TokenResponse:
    return TokenResponse(value, "Bearer", 60, None, MappingProxyType({}))


def test_cached_token_is_reused_until_its_fresh_time() -> None:
    cached = _Cached(token(), fresh_until=100.0)
    assert cached.reusable(99.9, None) and not cached.reusable(100.0, None)


def test_token_rejected_by_an_api_is_not_reused_but_a_newer_one_is() -> None:
    cached = _Cached(token("new"), fresh_until=100.0)
    assert not cached.reusable(0, stale="new")
    assert cached.reusable(0, stale="old")  # someone else already renewed: no second request


def test_token_without_expires_in_is_reused_until_rejected() -> None:
    cached = _Cached(token(), fresh_until=None)
    assert cached.reusable(10**12, None) and not cached.reusable(0, "t1")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        (['Bearer error="invalid_token"'], "invalid_token"),
        (['Bearer realm="api", error="invalid_token", error_description="expired"'], "invalid_token"),
        (["Bearer error=invalid_token"], "invalid_token"),
        (['bearer ERROR="insufficient_scope", scope="a b"'], "insufficient_scope"),
        (['Basic realm="x", Bearer error="invalid_token"'], "invalid_token"),
        (['DPoP error="invalid_token", Bearer realm="api"'], None),
        (['Basic error="invalid_token"'], None),
        (['Bearer realm="api"'], None),
        (["Bearer"], None),
        ([], None),
        (['Basic realm="a"', 'Bearer error="invalid_token"'], "invalid_token"),
        ([r'Bearer realm="a \"quoted\" realm", error="invalid_token"'], "invalid_token"),
        ([r'Bearer error="in\valid"'], "invalid"),
    ],
    ids=[
        "plain", "with-params", "token-form", "case", "second-challenge", "dpop-only",
        "basic-only", "no-error", "bare", "none", "two-headers", "escaped-quotes", "escaped-char",
    ],
)  # fmt: skip
def test_bearer_error_reads_the_bearer_challenge_only(
    headers: list[str], error: str | None
) -> None:
    assert bearer_error(headers) == error


ERROR_CHARS = st.text(
    alphabet=st.characters(
        codec="ascii", min_codepoint=0x20, max_codepoint=0x7E, exclude_characters='"\\'
    ),
    min_size=1,
    max_size=30,
)  # RFC 6749 §5.2 error charset


@settings(max_examples=150)
@given(realm=ERROR_CHARS, error=ERROR_CHARS, description=ERROR_CHARS)
def test_bearer_error_round_trips_any_quoted_value(
    realm: str, error: str, description: str
) -> None:
    header = f'Bearer realm="{realm}", error="{error}", error_description="{description}"'
    assert bearer_error([header]) == error
