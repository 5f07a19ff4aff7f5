"""Durations: ``30s 15m 24h 90d 52w 1y`` and combinations; everything else is refused."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from certbound.pki import PkiError, format_duration, parse_duration

DAY = 86400


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("24h", 86400),
        ("90d", 90 * DAY),
        ("52w", 52 * 7 * DAY),
        ("1y", 365 * DAY),
        ("1d12h", DAY + 12 * 3600),
        ("1y2w3d4h5m6s", 365 * DAY + 14 * DAY + 3 * DAY + 4 * 3600 + 5 * 60 + 6),
        (" 90D ", 90 * DAY),
    ],
)
def test_parse_duration_accepts_units_and_combinations(text: str, seconds: int) -> None:
    assert parse_duration(text) == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("90x", "use a whole number and a unit"),
        ("-1d", "use a whole number and a unit"),
        ("", "use a whole number and a unit"),
        ("d", "use a whole number and a unit"),
        ("1.5d", "use a whole number and a unit"),
        ("90", "use a whole number and a unit"),
        ("1h1d", "use a whole number and a unit"),  # largest unit first
        ("1d1d", "use a whole number and a unit"),
        ("0h", "longer than zero"),
        ("0d0s", "longer than zero"),
        ("101y", "at most 100 years"),
    ],
)
def test_parse_duration_refuses_bad_text_with_reason(text: str, reason: str) -> None:
    with pytest.raises(PkiError, match=reason) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


@settings(max_examples=150)
@given(
    st.lists(st.integers(min_value=0, max_value=40), min_size=6, max_size=6).filter(any),
)
def test_parse_duration_sums_every_unit(counts: list[int]) -> None:
    units = ("y", "w", "d", "h", "m", "s")
    sizes = (365 * DAY, 7 * DAY, DAY, 3600, 60, 1)
    text = "".join(f"{n}{u}" for n, u in zip(counts, units, strict=True) if n)
    expected = sum(n * s for n, s in zip(counts, sizes, strict=True))
    assert parse_duration(text) == dt.timedelta(seconds=expected)


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (dt.timedelta(days=90), "90 days"),
        (dt.timedelta(days=365), "1 year"),
        (dt.timedelta(days=1, hours=12), "1 day 12 hours"),
        (dt.timedelta(days=366, hours=1, minutes=5), "1 year 1 day"),
        (dt.timedelta(seconds=1), "1 second"),
        (dt.timedelta(0), "0 seconds"),
        (-dt.timedelta(days=3), "3 days"),
        (dt.timedelta(weeks=2), "14 days"),
        (dt.timedelta(days=9, seconds=1), "9 days"),
        (dt.timedelta(days=1, minutes=59), "1 day"),
        (dt.timedelta(hours=2, minutes=3, seconds=4), "2 hours 3 minutes"),
        (dt.timedelta(minutes=1, seconds=1), "1 minute 1 second"),
        (dt.timedelta(days=730, hours=5), "2 years"),
    ],
)
def test_format_duration_shows_the_largest_unit_and_the_next(
    delta: dt.timedelta, words: str
) -> None:
    assert format_duration(delta) == words
