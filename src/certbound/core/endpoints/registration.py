"""Dynamic client registration (RFC 7591) and client configuration (RFC 7592).

``POST /register`` (RFC 7591 §3.1), in order:

1. Open registration is off by default. Unless :attr:`RegistrationPolicy.open`, the request
   needs the configured initial access token (§3: the endpoint "MAY be an OAuth 2.0 protected
   resource"): ``Authorization: Bearer <token>``, compared by SHA-256 in constant time. Missing
   or wrong: 401 ``invalid_token`` with a Bearer challenge (RFC 6750 §3).
2. An ``application/json`` body (415 otherwise) holding valid JSON (400 ``invalid_request``).
3. The one validation path, :func:`validate_client_metadata`, as an *untrusted* caller: the
   server assigns ``client_id``, and operator-only ``certbound_*`` metadata is refused
   (400 ``invalid_client_metadata`` naming the field, §3.2.2).
4. The client is stored, then the SHA-256 of a new random registration access token (the token
   itself is never stored; if storing it fails the client is removed again).
5. 201 with the metadata plus ``client_id``, ``client_id_issued_at`` (§3.2.1),
   ``registration_access_token`` and ``registration_client_uri`` (RFC 7592 §3), never cached.

``GET | PUT | DELETE /register/{client_id}`` (RFC 7592 §2) need that registration access token
as a Bearer token. A wrong token and an unknown client are the same 401 ``invalid_token``
(§2.1-2.3: "MUST respond with HTTP 401"), so the endpoint tells nobody which clients exist.
GET answers the client information response (§3) with the presented token; PUT replaces the
metadata through :func:`merge_update` (untrusted: the operator's grants are kept); DELETE
removes the client and its token and answers 204.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Protocol

from certbound.core.clients import Client
from certbound.core.endpoints._json_body import read_json
from certbound.core.errors import InvalidTokenError, MethodNotAllowedError, NotFoundError
from certbound.core.grants import NO_STORE
from certbound.core.messages import Request, Response
from certbound.core.policy import ENDPOINT_PATHS, ServerPolicy, endpoint_url
from certbound.core.ports import ClientStore, EventSink, NotFoundInStoreError, StorageError
from certbound.core.registration_rules import merge_update, validate_client_metadata

__all__ = [
    "ClientRegistrationChanged",
    "RegistrationEndpoint",
    "RegistrationPolicy",
    "RegistrationTokenStore",
    "bearer_token",
    "client_uri",
    "token_sha256",
]

_BASE: Final = ENDPOINT_PATHS["registration"]
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_BEARER: Final = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_REALM: Final = "certbound"


class RegistrationTokenStore(Protocol):
    """The SHA-256 (hex) of each client's registration access token (RFC 7592 §3)."""

    async def put(self, client_id: str, token_sha256: str, issued_at: int) -> None: ...
    async def get(self, client_id: str) -> str | None: ...
    async def remove(self, client_id: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class ClientRegistrationChanged:
    """A client was registered, updated or deleted (``action``) through ``via`` (``dcr``: RFC
    7591 / 7592; ``admin``: the admin API)."""

    kind: ClassVar[str] = "client_registration_changed"

    action: str
    client_id: str
    via: str


@dataclass(frozen=True, slots=True)
class RegistrationPolicy:
    """Who may register: anyone (``open``) or holders of the initial access token whose SHA-256
    (hex) is ``initial_access_token_sha256``. Neither: registration is not served."""

    open: bool = False
    initial_access_token_sha256: str | None = None

    @property
    def enabled(self) -> bool:
        return self.open or self.initial_access_token_sha256 is not None


def token_sha256(token: str) -> str:
    """The hex SHA-256 of a bearer token: what is kept in memory and in the store."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def bearer_token(request: Request) -> str | None:
    """The RFC 6750 §2.1 token of ``Authorization: Bearer …``; None when absent or malformed."""
    match = _BEARER.fullmatch(request.headers.get("authorization", "").strip())
    return match.group(1) if match else None


class _BearerRequiredError(InvalidTokenError):
    """401; RFC 6750 §3.1: no error code in the challenge when no token was sent."""

    def __init__(self, description: str, *, presented: bool) -> None:
        super().__init__(description)
        self.presented = presented

    def headers(self) -> dict[str, str]:
        if self.presented:
            return {"WWW-Authenticate": f'Bearer realm="{_REALM}", error="invalid_token"'}
        return {"WWW-Authenticate": f'Bearer realm="{_REALM}"'}


class _AllowError(MethodNotAllowedError):
    def __init__(self, allow: str) -> None:
        super().__init__(f"use {allow} on this registration URL")
        self.allow = allow

    def headers(self) -> dict[str, str]:
        return {"Allow": self.allow}


def _matches(presented: str | None, expected_sha256: str | None) -> bool:
    if presented is None or expected_sha256 is None:
        return False
    return hmac.compare_digest(token_sha256(presented), expected_sha256)


@dataclass(frozen=True, slots=True)
class RegistrationEndpoint:
    """``/register`` and ``/register/{client_id}`` (see the module text)."""

    clients: ClientStore
    tokens: RegistrationTokenStore
    policy: ServerPolicy
    registration: RegistrationPolicy
    events: EventSink
    generate_id: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(16))
    generate_token: Callable[[], str] = field(default=lambda: secrets.token_urlsafe(32))

    async def handle(self, request: Request, *, now: dt.datetime) -> Response:
        if request.path == _BASE:
            if request.method != "POST":
                raise _AllowError("POST")
            return await self._register(request, int(now.timestamp()))
        client_id = request.path.removeprefix(_BASE + "/")
        if client_id == request.path or not client_id or "/" in client_id:
            raise NotFoundError("unknown endpoint", detail=f"path={request.path[:80]!r}")
        if request.method not in ("GET", "HEAD", "PUT", "DELETE"):
            raise _AllowError("GET, PUT, DELETE")
        token, client = await self._authorize(request, client_id)
        if request.method == "DELETE":
            return await self._delete(client)
        if request.method == "PUT":
            client = await self._update(client, request, int(now.timestamp()))
        return self._information(client, token, 200)

    async def _register(self, request: Request, now: int) -> Response:
        expected = self.registration.initial_access_token_sha256
        if not self.registration.open and not _matches(bearer_token(request), expected):
            raise _BearerRequiredError(
                "a valid initial access token is required to register",
                presented="authorization" in request.headers,
            )
        client = validate_client_metadata(
            read_json(request),
            client_id=None,
            now=now,
            policy=self.policy,
            generate_id=self.generate_id,
            trusted_caller=False,
        )
        await self.clients.add(client)
        token = self.generate_token()
        try:
            await self.tokens.put(client.client_id, token_sha256(token), now)
        except StorageError:
            await self.clients.remove(client.client_id)
            raise
        self.events.emit(ClientRegistrationChanged("registered", client.client_id, "dcr"))
        return self._information(client, token, 201)

    async def _authorize(self, request: Request, client_id: str) -> tuple[str, Client]:
        """RFC 7592 §2: the client's registration access token, or 401 (unknown clients too)."""
        presented = bearer_token(request)
        stored = await self.tokens.get(client_id) if presented is not None else None
        client = await self.clients.get(client_id) if stored is not None else None
        if presented is None or client is None or not _matches(presented, stored):
            raise _BearerRequiredError(
                "the registration access token is missing, invalid or not for this client",
                presented="authorization" in request.headers,
            )
        return presented, client

    async def _update(self, existing: Client, request: Request, now: int) -> Client:
        client = merge_update(
            existing, read_json(request), now=now, policy=self.policy, trusted_caller=False
        )
        try:
            await self.clients.update(client)
        except NotFoundInStoreError:  # deleted meanwhile
            raise _BearerRequiredError("the client no longer exists", presented=True) from None
        self.events.emit(ClientRegistrationChanged("updated", client.client_id, "dcr"))
        return client

    async def _delete(self, client: Client) -> Response:
        await self.clients.remove(client.client_id)
        await self.tokens.remove(client.client_id)
        self.events.emit(ClientRegistrationChanged("deleted", client.client_id, "dcr"))
        return Response(204, None, dict(NO_STORE), text="", media_type="text/plain")

    def _information(self, client: Client, token: str, status: int) -> Response:
        """RFC 7591 §3.2.1 + RFC 7592 §3: the client information response."""
        body: dict[str, Any] = {
            **client.to_metadata(),
            "registration_access_token": token,
            "registration_client_uri": client_uri(self.policy, client.client_id),
        }
        return Response(status, body, dict(NO_STORE))


def client_uri(policy: ServerPolicy, client_id: str) -> str:
    """RFC 7592 §3 ``registration_client_uri``: ``{issuer}/register/{client_id}``."""
    return f"{endpoint_url(policy, 'registration')}/{client_id}"
