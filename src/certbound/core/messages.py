"""Framework-neutral request and response values exchanged between adapters and the core.

The HTTP adapter builds a :class:`Request` from whatever web framework is in front (raw body bytes,
lower-cased headers, the presented certificate) and renders the :class:`Response` it gets back.

Both are frozen ``msgspec`` Structs, as are the other values the core builds on every token request
(``GrantContext``, ``AuthenticatedClient``, ``IssuedAccessToken``, the events): as immutable as
frozen dataclasses, but built without a frozen dataclass's ``object.__setattr__`` per field, which
was 11 % of a token request's instructions and a few per cent of its time (docs/performance.md).
Other values stay frozen, slotted dataclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from msgspec import Struct, field

from certbound.core.mtls.certificate import PeerCertificate

__all__ = ["Request", "Response"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


class Request(Struct, frozen=True):
    """One HTTP request as the core sees it.

    ``headers`` keys are lower-case; ``body`` is the raw (already size-capped) body; ``peer`` is the
    client certificate chain however it arrived (TLS layer or trusted proxy), or None.
    ``base_url`` is the URL the request was received on (scheme://host[:port]), used to tell the
    issuer listener from the mTLS alias listener.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    body: bytes = b""
    query: str = ""
    peer: PeerCertificate | None = None
    client_address: str | None = None
    base_url: str = ""

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


class Response(Struct, frozen=True):
    """What the core answers: a status, a JSON body (or raw text) and headers."""

    status: int
    json: Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str | None = None
    media_type: str = "application/json"
