"""Scope parsing and allow-lists (RFC 6749 §3.3).

``scope = scope-token *( SP scope-token )`` with ``scope-token = 1*( %x21 / %x23-5B / %x5D-7E )``:
the grammar is followed exactly, so a double, leading or trailing space is an error like any other
character outside the token set. Repeated tokens are folded (the order of first appearance kept).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from certbound.core.errors import InvalidScopeError

__all__ = ["SCOPE_TOKEN", "grant_scopes", "parse_scope"]

SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_NAMED_MAX = 5  # how many offending scopes an error description lists


def _listing(scopes: Iterable[str]) -> str:
    items = list(scopes)
    shown = " ".join(items[:_NAMED_MAX])
    return shown + (f" (and {len(items) - _NAMED_MAX} more)" if len(items) > _NAMED_MAX else "")


def parse_scope(value: str | None) -> tuple[str, ...]:
    """The scope tokens of a ``scope`` parameter, deduplicated in order; ``()`` for None or ''.

    Raises :class:`InvalidScopeError` when ``value`` does not follow the §3.3 grammar.
    """
    if not value:
        return ()
    tokens = value.split(" ")
    if any(not token for token in tokens):
        raise InvalidScopeError("scope tokens must be separated by exactly one space")
    if not all(SCOPE_TOKEN.fullmatch(token) for token in tokens):
        raise InvalidScopeError("scope contains a character outside the RFC 6749 scope-token set")
    return tuple(dict.fromkeys(tokens))


def grant_scopes(requested: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...]:
    """The scopes to grant: ``requested`` when every one of them is in ``allowed``.

    RFC 6749 §3.3: when the client omits ``scope`` the server "MUST either process the request
    using a pre-defined default value or fail"; certbound's default is *every allowed scope*
    (the client's registered ``scope``), in the registered order. A requested scope outside
    ``allowed`` is refused with :class:`InvalidScopeError` naming it, never silently dropped.
    """
    wanted = tuple(dict.fromkeys(requested))
    permitted = tuple(dict.fromkeys(allowed))
    if not wanted:
        return permitted
    refused = [scope for scope in wanted if scope not in permitted]
    if refused:
        raise InvalidScopeError(f"scope not allowed for this client: {_listing(refused)}")
    return wanted
