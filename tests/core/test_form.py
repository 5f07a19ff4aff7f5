"""core.form: strict application/x-www-form-urlencoded parsing (RFC 6749 Appendix B, §3.1)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.core.errors import InvalidRequestError
from certbound.core.form import FormData, parse_form


def test_parse_form_decodes_plus_as_space_and_percent_escapes_as_utf8() -> None:
    form = parse_form(b"grant_type=client_credentials&scope=read+write&name=J%C3%BCrgen%2B1")
    assert form.get("grant_type") == "client_credentials"
    assert form.get("scope") == "read write"
    assert form.get("name") == "Jürgen+1"


def test_parse_form_of_empty_body_has_no_parameters() -> None:
    assert parse_form(b"") == FormData(())


def test_parse_form_skips_empty_fields_and_a_trailing_ampersand() -> None:
    assert parse_form(b"a=1&&b=2&").pairs == (("a", "1"), ("b", "2"))


def test_empty_values_count_as_absent_rfc6749_3_1() -> None:
    form = parse_form(b"scope=&client_id=c1")
    assert form.get("scope") is None
    assert "scope" not in form
    assert form.names() == ("client_id",)


def test_an_empty_value_does_not_make_a_parameter_repeated() -> None:
    assert parse_form(b"scope=&scope=read").get("scope") == "read"


def test_get_refuses_a_repeated_parameter_rfc6749_3_2() -> None:
    form = parse_form(b"grant_type=client_credentials&grant_type=authorization_code")
    with pytest.raises(InvalidRequestError) as caught:
        form.get("grant_type")
    assert caught.value.description == "parameter 'grant_type' is repeated"


def test_get_all_returns_every_value_of_a_parameter_that_may_repeat() -> None:
    form = parse_form(b"resource=https%3A%2F%2Fa&resource=https%3A%2F%2Fb")
    assert form.get_all("resource") == ("https://a", "https://b")


def test_require_returns_the_single_value() -> None:
    assert parse_form(b"client_id=c1").require("client_id") == "c1"


def test_require_refuses_a_missing_parameter() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(b"a=1").require("client_id")
    assert caught.value.description == "missing parameter 'client_id'"


def test_require_refuses_a_repeated_parameter() -> None:
    with pytest.raises(InvalidRequestError, match="repeated"):
        parse_form(b"client_id=a&client_id=b").require("client_id")


def test_names_lists_each_parameter_once_in_order_of_appearance() -> None:
    assert parse_form(b"b=1&a=2&b=3").names() == ("b", "a")


def test_a_long_parameter_name_is_shortened_in_the_error_description() -> None:
    name = "x" * 100
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(f"{name}=1&{name}=2".encode()).get(name)
    assert caught.value.description == f"parameter '{'x' * 40}...' is repeated"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        pytest.param(b"a=%zz", "parameter 'a' contains a malformed percent-encoding", id="bad-hex"),
        pytest.param(b"a=%4", "parameter 'a' contains a malformed percent-encoding", id="short"),
        pytest.param(b"a=100%", "parameter 'a' contains a malformed percent-encoding", id="bare"),
        pytest.param(b"%g1=1", "a parameter name contains a malformed percent-encoding", id="name"),
        pytest.param(
            b"a=%C3%28", "parameter 'a' is not valid UTF-8 after percent-decoding", id="utf8"
        ),
        pytest.param(
            b"a=%ED%A0%80",
            "parameter 'a' is not valid UTF-8 after percent-decoding",
            id="surrogate",
        ),
        pytest.param(
            b"a=%C0%AF", "parameter 'a' is not valid UTF-8 after percent-decoding", id="overlong"
        ),
        pytest.param(
            b"%FF=1", "a parameter name is not valid UTF-8 after percent-decoding", id="name-utf8"
        ),
        pytest.param(b"a=x%00y", "parameter 'a' contains a NUL character", id="nul-value"),
        pytest.param(b"a%00=1", "a parameter name contains a NUL character", id="nul-name"),
        pytest.param(
            b"a=\xc3\xbc",
            "parameter 'a' contains a byte that is not percent-encoded",
            id="raw-utf8",
        ),
        pytest.param(
            b"a=x\ny", "parameter 'a' contains a byte that is not percent-encoded", id="raw-newline"
        ),
        pytest.param(
            b"a=\x00", "parameter 'a' contains a byte that is not percent-encoded", id="raw-nul"
        ),
        pytest.param(b"=1", "form field with an empty parameter name", id="empty-name"),
        pytest.param(b"a=1&flag", "form field 'flag' has no '='", id="no-equals"),
    ],
)
def test_parse_form_refuses_what_no_conforming_encoder_produces(
    body: bytes, description: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_form(body)
    assert caught.value.description == description
    assert caught.value.error == "invalid_request"


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_form_data_or_invalid_request(body: bytes) -> None:
    try:
        form = parse_form(body)
    except InvalidRequestError:
        return
    assert isinstance(form, FormData)
    assert all(name and value for name, value in form.pairs)


_names = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)
_values = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_names, _values, max_size=8))
def test_urlencoded_pairs_round_trip(params: dict[str, str]) -> None:
    pairs = tuple(params.items())
    form = parse_form(urlencode(pairs).encode("ascii"))
    assert form.pairs == pairs
    for name, value in pairs:
        assert form.get(name) == value


_plain_bodies = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="%+"),
    max_size=80,
).map(lambda s: s.encode("ascii"))


def _outcome(body: bytes) -> tuple[tuple[tuple[str, str], ...], str | None]:
    try:
        return parse_form(body).pairs, None
    except InvalidRequestError as exc:
        return (), exc.description


@settings(max_examples=300, deadline=None)
@given(_plain_bodies)
def test_a_body_with_nothing_to_decode_parses_as_field_by_field(body: bytes) -> None:
    """A printable-ASCII body without '%' or '+' is checked once as a whole; the result, or the
    error, is what the field-by-field path gives (forced here by an encoded field in front)."""
    pairs, error = _outcome(body)
    forced_pairs, forced_error = _outcome(b"z%7A=1&" + body)
    assert error == forced_error
    if error is None:
        assert forced_pairs == (("zz", "1"), *pairs)
