"""Tokenizer for Envoy's ``x-forwarded-client-cert`` value (not an RFC 8941 structured field).

Grammar, as Envoy writes it (OWS is space or tab)::

    xfcc    = element *( "," element )
    element = pair *( ";" pair )
    pair    = OWS key "=" value OWS
    key     = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
    value   = quoted / bare
    quoted  = DQUOTE *( <any but DQUOTE and "\\"> / "\\" <any> ) DQUOTE
    bare    = *( <any but "," ";" DQUOTE> )

Inside quotes ``\\"`` is ``"`` and ``\\\\`` is ``\\``; any other ``\\`` is kept literally (Envoy
escapes only quotes). ``=`` may appear unquoted in a value: a pair splits at its first ``=``.
Empty elements, empty pairs and unterminated quotes are errors.
"""

from __future__ import annotations

import re

from ._decode import Fail

__all__ = ["KEY_PATTERN", "split_elements"]

_OWS = " \t"
KEY_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")


def split_elements(value: str, fail: Fail) -> list[tuple[tuple[str, str], ...]]:
    """Split ``value`` into elements of ``(lower-cased key, decoded value)`` pairs."""
    elements: list[tuple[tuple[str, str], ...]] = []
    for raw_element in _split_unquoted(value, ",", fail):
        if not raw_element.strip(_OWS):
            raise fail("empty element")
        parts = _split_unquoted(raw_element, ";", fail)
        elements.append(tuple(_parse_pair(part, fail) for part in parts))
    return elements


def _split_unquoted(text: str, separator: str, fail: Fail) -> list[str]:
    """Split at ``separator`` where it is outside double quotes."""
    parts: list[str] = []
    start, index, quoted = 0, 0, False
    while index < len(text):
        char = text[index]
        if quoted and char == "\\":
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append(text[start:index])
            start = index + 1
        index += 1
    if quoted:
        raise fail("unterminated quoted value")
    parts.append(text[start:])
    return parts


def _parse_pair(raw: str, fail: Fail) -> tuple[str, str]:
    if not raw.strip(_OWS):
        raise fail("empty key=value pair")
    key, equals, value = raw.partition("=")
    key = key.strip(_OWS)
    if not equals or not KEY_PATTERN.fullmatch(key):
        raise fail("malformed key=value pair")
    return key.lower(), _unquote(value.strip(_OWS), fail)


def _unquote(raw: str, fail: Fail) -> str:
    if not raw.startswith('"'):
        if '"' in raw:
            raise fail("quote inside an unquoted value")
        return raw
    if len(raw) < 2 or not raw.endswith('"'):
        raise fail("text after a quoted value")
    out: list[str] = []
    inner, index = raw[1:-1], 0
    while index < len(inner):
        char = inner[index]
        if char == '"':
            raise fail("unescaped quote inside a quoted value")
        if char == "\\":
            following = inner[index + 1 : index + 2]
            out.append(following if following in ('"', "\\") else char + following)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)
