"""Certificate lifetimes written as compact durations: ``30s 15m 24h 90d 52w 1y 1d12h``.

A year is 365 days and a week 7 days. Units appear at most once, largest first; the total must be
positive and at most 100 years (X.509 GeneralizedTime ends in 9999, RFC 5280 §4.1.2.5).
"""

from __future__ import annotations

import datetime as dt
import re

from certbound.pki._errors import PkiError

__all__ = ["MAX_DURATION", "format_duration", "parse_duration"]

_UNITS: dict[str, int] = {
    "y": 365 * 86400,
    "w": 7 * 86400,
    "d": 86400,
    "h": 3600,
    "m": 60,
    "s": 1,
}
_NAMES = {"y": "year", "w": "week", "d": "day", "h": "hour", "m": "minute", "s": "second"}
_DURATION = re.compile(r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
MAX_DURATION = dt.timedelta(days=100 * 365)
_HINT = "use a whole number and a unit s, m, h, d, w or y, e.g. 24h, 90d, 1y or 1d12h"


def parse_duration(text: str) -> dt.timedelta:
    """Parse ``text`` (e.g. ``90d``) into a positive :class:`datetime.timedelta`.

    Raises :class:`PkiError` with a one-line reason for anything else (``90x``, ``-1d``, ``0h``).
    """
    raw = text.strip().lower()
    match = _DURATION.fullmatch(raw)
    if not raw or match is None:
        raise PkiError(f"invalid duration {text!r}: {_HINT}")
    seconds = sum(
        int(value) * _UNITS[unit]
        for value, unit in zip(match.groups(), _UNITS, strict=True)
        if value is not None
    )
    if seconds <= 0:
        raise PkiError(f"invalid duration {text!r}: it must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise PkiError(f"invalid duration {text!r}: at most 100 years")
    return dt.timedelta(seconds=seconds)


def format_duration(delta: dt.timedelta) -> str:
    """Render ``delta`` in words for people: ``90 days``, ``1 year``, ``1 day 12 hours``.

    Negative values render their magnitude; sub-second parts are dropped. The largest non-zero
    unit is shown with the next smaller one when that is non-zero (``1 day 12 hours``), never a
    distant one: ``9 days 1 second`` reads as precision nobody asked for and is ``9 days``.
    """
    seconds = abs(int(delta.total_seconds()))
    if seconds == 0:
        return "0 seconds"
    units = [unit for unit in _UNITS if unit != "w"]  # "13 weeks" reads worse than "91 days"
    parts: list[str] = []
    for index, unit in enumerate(units):
        count, seconds = divmod(seconds, _UNITS[unit])
        if count:
            parts.append(f"{count} {_NAMES[unit]}{'' if count == 1 else 's'}")
            if index + 1 < len(units):
                following = units[index + 1]
                rest = seconds // _UNITS[following]
                if rest:
                    parts.append(f"{rest} {_NAMES[following]}{'' if rest == 1 else 's'}")
            break
    return " ".join(parts)
