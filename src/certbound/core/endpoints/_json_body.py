"""Strict ``application/json`` request bodies (RFC 8259) for the registration APIs.

RFC 7591 §3.1 sends client metadata as a JSON object. Anything a conforming encoder would not
produce is refused with ``invalid_request`` (400) rather than guessed at: another media type
(415), a body that is not UTF-8 (RFC 8259 §8.1), not JSON, ``NaN`` / ``Infinity`` (not JSON
numbers, RFC 8259 §6), a member name repeated in one object (RFC 8259 §4 "SHOULD be unique":
two readers could see two different documents) or nesting too deep to parse. The size limit is
the adapter's (413).
"""

from __future__ import annotations

import json
from typing import Any, Final, NoReturn

from certbound.core.errors import InvalidRequestError, UnsupportedMediaTypeError
from certbound.core.messages import Request

__all__ = ["JSON_MEDIA_TYPE", "parse_json", "read_json"]

JSON_MEDIA_TYPE: Final = "application/json"


def _refuse(why: str) -> NoReturn:
    raise InvalidRequestError(f"the request body is not valid JSON: {why}")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            _refuse(f"member {name[:40]!r} appears twice in one object")
        out[name] = value
    return out


def _no_constant(name: str) -> NoReturn:
    _refuse(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """The JSON value in ``body``; ``InvalidRequestError`` naming the problem."""
    if not body.strip():
        _refuse("the body is empty")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        _refuse("it is not UTF-8")
    try:
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        _refuse(f"{exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        _refuse("it is nested too deeply")


def read_json(request: Request) -> Any:
    """The JSON body of ``request``: 415 unless it is ``application/json``, then :func:`parse_json`."""
    if request.content_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(f"the request body must be {JSON_MEDIA_TYPE}")
    return parse_json(request.body)
