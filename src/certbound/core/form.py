"""Strict ``application/x-www-form-urlencoded`` request bodies (RFC 6749 Appendix B, §3.1, §3.2).

RFC 6749 Appendix B: each name and value is UTF-8, then percent-encoded, ``+`` standing for a space.
Anything a conforming encoder cannot produce is refused with ``invalid_request`` instead of being
guessed at: a broken ``%`` escape, raw bytes outside printable ASCII, invalid UTF-8 after decoding,
a NUL character, a field without ``=`` or with an empty name.

RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted from the
request" — empty values are dropped while parsing. §3.1/§3.2: "Request and response parameters MUST
NOT be included more than once" — :meth:`FormData.get` refuses a repeated name; the few extension
parameters that may repeat (RFC 8707 ``resource``) are read with :meth:`FormData.get_all`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from certbound.core.errors import InvalidRequestError

__all__ = ["FormData", "parse_form"]

# A '%' not followed by two hex digits (RFC 3986 §2.1 pct-encoded = "%" HEXDIG HEXDIG).
_BROKEN_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")
# Printable US-ASCII: everything else must arrive percent-encoded.
_RAW_OK = re.compile(rb"[\x20-\x7e]*")
_NAME_ECHO_MAX = 40


def _echo(name: str) -> str:
    """A parameter name as it may appear in a public error description (shortened)."""
    return name if len(name) <= _NAME_ECHO_MAX else name[:_NAME_ECHO_MAX] + "..."


@dataclass(frozen=True, slots=True)
class FormData:
    """Decoded form fields in body order; empty values are already dropped (RFC 6749 §3.1)."""

    pairs: tuple[tuple[str, str], ...] = ()
    _index: dict[str, tuple[str, ...]] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, tuple[str, ...]] = {}
        for key, value in self.pairs:
            index[key] = (*index[key], value) if key in index else (value,)
        object.__setattr__(self, "_index", index)

    def get_all(self, name: str) -> tuple[str, ...]:
        """Every value of ``name``, in body order (for parameters that may legitimately repeat)."""
        return self._index.get(name, ())

    def get(self, name: str) -> str | None:
        """The single value of ``name``; None when absent; ``invalid_request`` when repeated."""
        values = self._index.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise InvalidRequestError(f"parameter '{_echo(name)}' is repeated")
        return values[0]

    def require(self, name: str) -> str:
        """The single value of ``name``; ``invalid_request`` when absent or repeated."""
        value = self.get(name)
        if value is None:
            raise InvalidRequestError(f"missing parameter '{_echo(name)}'")
        return value

    def names(self) -> tuple[str, ...]:
        """The distinct parameter names, in order of first appearance."""
        return tuple(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index


def _where(name: str | None) -> str:
    """Where a decoding problem is, for its error: the name, or the value of parameter ``name``."""
    return "a parameter name" if name is None else f"parameter '{_echo(name)}'"


def _decode(raw: bytes, name: str | None) -> str:
    """Percent-decode one name (``name`` None) or the value of parameter ``name`` ('+' is a
    space) and decode it as strict UTF-8."""
    if not _RAW_OK.fullmatch(raw):
        raise InvalidRequestError(f"{_where(name)} contains a byte that is not percent-encoded")
    if b"%" not in raw and b"+" not in raw:  # printable ASCII with nothing to decode
        return raw.decode("ascii")
    if _BROKEN_ESCAPE.search(raw):
        raise InvalidRequestError(f"{_where(name)} contains a malformed percent-encoding")
    try:
        text = unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise InvalidRequestError(
            f"{_where(name)} is not valid UTF-8 after percent-decoding"
        ) from None
    if "\x00" in text:
        raise InvalidRequestError(f"{_where(name)} contains a NUL character")
    return text


def _check_field(name: str, eq: str | bytes) -> None:
    """A field needs a name and an ``=`` (``eq``: the separator ``partition`` found, or empty)."""
    if not name:
        raise InvalidRequestError("form field with an empty parameter name")
    if not eq:
        raise InvalidRequestError(f"form field '{_echo(name)}' has no '='")


def _parse_field(field: bytes) -> tuple[str, str]:
    raw_name, eq, raw_value = field.partition(b"=")
    name = _decode(raw_name, None)
    _check_field(name, eq)
    return name, _decode(raw_value, name)


def parse_form(body: bytes) -> FormData:
    """Parse an ``application/x-www-form-urlencoded`` body strictly (RFC 6749 Appendix B).

    Empty fields (``a=1&&b=2``, a trailing ``&``) are skipped; empty values are dropped
    (§3.1). Raises :class:`InvalidRequestError` naming the problem; never anything else.
    """
    pairs: list[tuple[str, str]] = []
    if b"%" in body or b"+" in body or not _RAW_OK.fullmatch(body):
        for field in body.split(b"&"):
            if field:
                name, value = _parse_field(field)
                if value:
                    pairs.append((name, value))
        return FormData(tuple(pairs))
    # Printable ASCII with nothing to decode (the usual token request): checked once, as a whole.
    for text in body.decode("ascii").split("&"):
        if text:
            name, eq, value = text.partition("=")
            _check_field(name, eq)
            if value:
                pairs.append((name, value))
    return FormData(tuple(pairs))
