"""certbound._json: orjson with the bytes json.dumps(..., ensure_ascii=False, compact) gives."""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certbound._json import dumps, dumps_text

_SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
_DOCS = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def reference(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


@given(_DOCS)
def test_the_bytes_are_those_of_json_dumps(doc: Any) -> None:
    assert dumps(doc) == reference(doc)
    assert dumps_text(doc) == reference(doc).decode()


def test_tuples_and_read_only_mappings_serialise_as_lists_and_objects() -> None:
    doc = {"scope": ("a", "b"), "cnf": MappingProxyType({"x5t#S256": "t"})}
    assert dumps(doc) == b'{"scope":["a","b"],"cnf":{"x5t#S256":"t"}}'


def test_what_json_cannot_hold_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps({"a": {1, 2}})


def test_structlog_default_is_used_after_the_mapping_conversion() -> None:
    assert dumps_text({"a": {1}}, default=lambda v: sorted(v)) == '{"a":[1]}'
    with pytest.raises(TypeError):
        dumps_text({"a": object()})
