"""The values the core builds on every token request: immutable, compared by value, and cheap.

They are frozen msgspec Structs rather than frozen dataclasses: the same guarantees, but a frozen
dataclass's ``__init__`` sets each field through ``object.__setattr__``, which cost 11 % of a
token request's instructions (callgrind over ``bench/tools/inproc.py``: 654k → 579k per request
once these values were Structs; ~3 % of its CPU time). The test pins that choice, so that a refactor back to
dataclasses is a decision, not an accident.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from certbound.core import events
from certbound.core.client_auth import AuthenticatedClient
from certbound.core.clients import TLS_CLIENT_AUTH, Client
from certbound.core.grants import GrantContext
from certbound.core.messages import Request, Response
from certbound.core.tokens import IssuedAccessToken

PER_REQUEST = (Request, Response, GrantContext, AuthenticatedClient, IssuedAccessToken)
EVENTS = tuple(getattr(events, name) for name in events.__all__)


@pytest.mark.parametrize("cls", PER_REQUEST + EVENTS, ids=lambda c: c.__name__)
def test_per_request_values_are_frozen_structs(cls: type) -> None:
    assert issubclass(cls, msgspec.Struct)
    assert cls.__struct_config__.frozen  # type: ignore[attr-defined]


def _client() -> Client:
    return Client(client_id="c1", token_endpoint_auth_method=TLS_CLIENT_AUTH)


SAMPLES: dict[str, Any] = {
    "request": lambda: Request("POST", "/token", {"content-type": "text/plain"}, b"a=b"),
    "response": lambda: Response(200, {"ok": True}),
    "authenticated_client": lambda: AuthenticatedClient(_client(), TLS_CLIENT_AUTH, None),
    "issued_access_token": lambda: IssuedAccessToken("t.o.k", "jti", 600, {"sub": "c1"}),
    "token_issued": lambda: events.TokenIssued("c1", "jti", "client_credentials", ("a",), None),
}


@pytest.mark.parametrize("make", SAMPLES.values(), ids=SAMPLES.keys())
def test_values_refuse_assignment_and_compare_by_value(make: Any) -> None:
    value = make()
    first = msgspec.structs.fields(value)[0].name
    with pytest.raises(AttributeError):
        setattr(value, first, None)
    assert value == make()
    assert repr(value).startswith(type(value).__name__ + "(")


def test_defaults_are_not_shared_between_requests() -> None:
    a, b = Response(200), Response(200)
    assert a.headers == {} and a.headers is not b.headers
    assert Request("GET", "/").headers == {}
    assert Request("GET", "/").content_type == ""


def test_a_value_with_a_mutable_field_is_unhashable_like_a_frozen_dataclass() -> None:
    hash(events.TokenIssued("c1", "jti", "client_credentials", ("a",), None))
    with pytest.raises(TypeError):
        hash(Response(200, {"ok": True}))


def test_events_keep_their_kind_as_a_class_attribute_not_a_field() -> None:
    issued = events.TokenIssued("c1", "jti", "client_credentials", (), None)
    assert issued.kind == "token_issued"
    assert "kind" not in issued.__struct_fields__
