"""The admin API's operations: one async function per documented path and method.

Each takes the :class:`AdminContext`, the core request and the path parameters, and returns a
core response or raises an :class:`~certbound.core.errors.OAuthError`; ``admin_api`` is the HTTP
seam around them (authentication, errors, audit). Clients are validated by the shared rules as a
*trusted* caller (operator-only ``certbound_*`` metadata allowed).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from certbound.core.clients import Client
from certbound.core.endpoints._json_body import JSON_MEDIA_TYPE, read_json
from certbound.core.endpoints.registration import ClientRegistrationChanged, RegistrationTokenStore
from certbound.core.errors import (
    InvalidClientMetadataError,
    InvalidRequestError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from certbound.core.grants import NO_STORE
from certbound.core.messages import Request, Response
from certbound.core.ports import ClientStore, ConflictError, EventSink, NotFoundInStoreError
from certbound.core.provider import Provider
from certbound.core.registration_rules import merge_update, validate_client_metadata
from certbound.server._admin_anchors import ConfiguredAnchorError, TrustAnchors
from certbound.server._admin_openapi import openapi_document

__all__ = ["OPERATIONS", "PEM_CHAIN_MEDIA_TYPE", "AdminContext", "Operation", "Params"]

PEM_CHAIN_MEDIA_TYPE = "application/pem-certificate-chain"  # RFC 8555 §9.1
Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AdminContext:
    """What the admin API acts on, read per request (the provider is swapped on reload)."""

    clients: ClientStore
    registration_tokens: RegistrationTokenStore | None
    anchors: TrustAnchors
    provider: Provider
    config: Mapping[str, Any]
    events: EventSink
    now: Callable[[], dt.datetime]


class _ConflictError(InvalidRequestError):
    status_code = 409


class _ClientIdTakenError(InvalidClientMetadataError):
    status_code = 409


def _json(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(status, dict(body), {**NO_STORE, **(headers or {})})


def _no_content() -> Response:
    return Response(204, None, dict(NO_STORE), text="", media_type="text/plain")


def _public(client: Client) -> dict[str, Any]:
    return client.to_metadata()


# --- clients ------------------------------------------------------------------------------------


async def _list_clients(ctx: AdminContext, request: Request, params: Params) -> Response:
    return _json(200, {"clients": [_public(c) for c in await ctx.clients.list()]})


async def _create_client(ctx: AdminContext, request: Request, params: Params) -> Response:
    raw = read_json(request)
    client = validate_client_metadata(
        raw,
        client_id=raw.get("client_id") if isinstance(raw, dict) else None,
        now=int(ctx.now().timestamp()),
        policy=ctx.provider.policy,
        generate_id=_generate_id,
        trusted_caller=True,
    )
    try:
        await ctx.clients.add(client)
    except ConflictError:
        raise _ClientIdTakenError(
            f"client_id: {client.client_id!r} is already registered"
        ) from None
    ctx.events.emit(ClientRegistrationChanged("registered", client.client_id, "admin"))
    location = f"{request.base_url}/admin/clients/{client.client_id}"
    return _json(201, _public(client), {"Location": location})


def _generate_id() -> str:
    return secrets.token_urlsafe(16)


async def _existing(ctx: AdminContext, client_id: str) -> Client:
    client = await ctx.clients.get(client_id)
    if client is None:
        raise NotFoundError("no such client", detail=f"client_id={client_id[:64]!r}")
    return client


async def _get_client(ctx: AdminContext, request: Request, params: Params) -> Response:
    return _json(200, _public(await _existing(ctx, params["client_id"])))


async def _update_client(ctx: AdminContext, request: Request, params: Params) -> Response:
    existing = await _existing(ctx, params["client_id"])
    client = merge_update(
        existing,
        read_json(request),
        now=int(ctx.now().timestamp()),
        policy=ctx.provider.policy,
        trusted_caller=True,
    )
    try:
        await ctx.clients.update(client)
    except NotFoundInStoreError:  # removed meanwhile
        raise NotFoundError("no such client", detail="removed during the update") from None
    ctx.events.emit(ClientRegistrationChanged("updated", client.client_id, "admin"))
    return _json(200, _public(client))


async def _delete_client(ctx: AdminContext, request: Request, params: Params) -> Response:
    client_id = params["client_id"]
    if not await ctx.clients.remove(client_id):
        raise NotFoundError("no such client", detail=f"client_id={client_id[:64]!r}")
    if ctx.registration_tokens is not None:  # SQL cascades; the memory store does not
        await ctx.registration_tokens.remove(client_id)
    ctx.events.emit(ClientRegistrationChanged("deleted", client_id, "admin"))
    return _no_content()


# --- trust anchors, configuration, OpenAPI --------------------------------------------------------


def _pem_of(request: Request) -> bytes:
    """The PEM of an anchor request: ``{"pem": "..."}`` JSON, or a raw PEM chain body."""
    if request.content_type == PEM_CHAIN_MEDIA_TYPE:
        return request.body
    if request.content_type != JSON_MEDIA_TYPE:
        raise UnsupportedMediaTypeError(
            f'send application/json {{"pem": ...}} or {PEM_CHAIN_MEDIA_TYPE}'
        )
    body = read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("pem"), str):
        raise InvalidRequestError(
            'pem: the body must be a JSON object {"pem": "<PEM CA certificates>"}'
        )
    return str(body["pem"]).encode("utf-8")


async def _list_anchors(ctx: AdminContext, request: Request, params: Params) -> Response:
    return _json(200, {"trust_anchors": [a.to_json() for a in ctx.anchors.entries()]})


async def _add_anchors(ctx: AdminContext, request: Request, params: Params) -> Response:
    try:
        certs = x509.load_pem_x509_certificates(_pem_of(request))
    except ValueError:
        raise InvalidRequestError("pem: no PEM certificate could be read") from None
    try:
        added = ctx.anchors.add(certs, ctx.now())
    except ValueError as exc:
        raise InvalidRequestError(f"pem: {exc}") from None
    body = {
        "added": [a.to_json() for a in added],
        "trust_anchors": [a.to_json() for a in ctx.anchors.entries()],
    }
    return _json(201 if added else 200, body)


async def _remove_anchor(ctx: AdminContext, request: Request, params: Params) -> Response:
    thumbprint = params["thumbprint"]
    try:
        removed = ctx.anchors.remove(thumbprint)
    except ConfiguredAnchorError as exc:
        raise _ConflictError(str(exc)) from None
    if not removed:
        raise NotFoundError("no such trust anchor", detail=f"x5t#S256={thumbprint[:64]!r}")
    return _no_content()


async def _config(ctx: AdminContext, request: Request, params: Params) -> Response:
    return _json(200, ctx.config)


async def _openapi(ctx: AdminContext, request: Request, params: Params) -> Response:
    return _json(200, openapi_document(ctx.provider.policy.issuer))


Operation = Callable[[AdminContext, Request, Params], Awaitable[Response]]

# (path, method, operation): the route table, also checked against the OpenAPI document.
OPERATIONS: tuple[tuple[str, str, Operation], ...] = (
    ("/admin/clients", "GET", _list_clients),
    ("/admin/clients", "POST", _create_client),
    ("/admin/clients/{client_id}", "GET", _get_client),
    ("/admin/clients/{client_id}", "PUT", _update_client),
    ("/admin/clients/{client_id}", "DELETE", _delete_client),
    ("/admin/trust-anchors", "GET", _list_anchors),
    ("/admin/trust-anchors", "POST", _add_anchors),
    ("/admin/trust-anchors/{thumbprint}", "DELETE", _remove_anchor),
    ("/admin/config", "GET", _config),
    ("/admin/openapi.json", "GET", _openapi),
)
