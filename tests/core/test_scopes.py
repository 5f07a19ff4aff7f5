"""core.scopes: RFC 6749 §3.3 scope parsing and allow-lists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.core.errors import InvalidScopeError
from certbound.core.scopes import SCOPE_TOKEN, grant_scopes, parse_scope


@pytest.mark.parametrize("value", [None, ""])
def test_parse_scope_of_nothing_is_empty(value: str | None) -> None:
    assert parse_scope(value) == ()


def test_parse_scope_splits_on_single_spaces_and_keeps_order() -> None:
    assert parse_scope("write read urn:x:y!#$") == ("write", "read", "urn:x:y!#$")


def test_parse_scope_folds_repeated_tokens_keeping_the_first() -> None:
    assert parse_scope("a b a c b") == ("a", "b", "c")


@pytest.mark.parametrize(
    "value", [" a", "a ", "a  b", " "], ids=["lead", "trail", "double", "only"]
)
def test_parse_scope_refuses_empty_tokens(value: str) -> None:
    with pytest.raises(InvalidScopeError) as caught:
        parse_scope(value)
    assert caught.value.description == "scope tokens must be separated by exactly one space"


@pytest.mark.parametrize("value", ['a"b', "a\\b", "a\tb", "caf\u00e9", "a\x7fb"])
def test_parse_scope_refuses_characters_outside_the_token_set(value: str) -> None:
    with pytest.raises(InvalidScopeError) as caught:
        parse_scope(value)
    assert caught.value.description == (
        "scope contains a character outside the RFC 6749 scope-token set"
    )


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_valid_tokens_or_invalid_scope(value: str) -> None:
    try:
        tokens = parse_scope(value)
    except InvalidScopeError:
        return
    assert all(SCOPE_TOKEN.fullmatch(t) for t in tokens)
    assert len(set(tokens)) == len(tokens)


_token = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters='"\\'), min_size=1
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_token, max_size=8, unique=True))
def test_joined_tokens_round_trip(tokens: list[str]) -> None:
    assert parse_scope(" ".join(tokens)) == tuple(tokens)


def test_grant_scopes_grants_what_was_requested_when_allowed() -> None:
    assert grant_scopes(("b", "a"), ("a", "b", "c")) == ("b", "a")


def test_grant_scopes_without_a_request_grants_every_allowed_scope() -> None:
    assert grant_scopes((), ("a", "b")) == ("a", "b")


def test_grant_scopes_without_a_request_or_allowed_scopes_grants_nothing() -> None:
    assert grant_scopes((), ()) == ()


def test_grant_scopes_refuses_and_names_scopes_not_allowed() -> None:
    with pytest.raises(InvalidScopeError) as caught:
        grant_scopes(("a", "x", "y"), ("a",))
    assert caught.value.description == "scope not allowed for this client: x y"


def test_grant_scopes_names_at_most_five_refused_scopes() -> None:
    with pytest.raises(InvalidScopeError) as caught:
        grant_scopes([f"s{i}" for i in range(8)], ())
    assert caught.value.description == (
        "scope not allowed for this client: s0 s1 s2 s3 s4 (and 3 more)"
    )
