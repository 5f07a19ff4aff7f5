"""Talking to the authorization server: TLS contexts, JSON GETs and metadata discovery (RFC 8414).

Discovery tries the RFC 8414 §3.1 location first (``/.well-known/oauth-authorization-server``
inserted between the host and the issuer's path), then the OpenID Connect Discovery 1.0 §4
location (``/.well-known/openid-configuration`` appended to the issuer) when the first answers
anything but 200. The document's ``issuer`` must equal the configured issuer exactly (RFC 8414
§3.3), or its keys could be another issuer's. Every failure is a
:class:`~certbound.resource.errors.ResourceServerUnavailableError` naming the URL and the cause.
"""

from __future__ import annotations

import json
import os
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

from certbound.core.endpoints.discovery import metadata_urls
from certbound.resource.errors import ResourceServerUnavailableError

__all__ = [
    "ClientCert",
    "Verify",
    "check_issuer_url",
    "client_ssl_context",
    "fetch_metadata",
    "get_json",
    "http_client",
    "post_form",
]

Verify = ssl.SSLContext | str | os.PathLike[str] | bool
ClientCert = tuple[str | os.PathLike[str], str | os.PathLike[str]]


def check_issuer_url(issuer: str) -> str:
    """RFC 8414 §2: an ``https`` URL with a host and no query or fragment; else ``ValueError``."""
    parts = urlsplit(issuer)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ValueError(f"the issuer must be an https URL without query or fragment: {issuer!r}")
    return issuer


def client_ssl_context(
    verify: Verify = True, client_cert: ClientCert | None = None
) -> ssl.SSLContext:
    """The context for calls to the AS: ``verify`` is a ready context, a CA file, or True
    (system CAs); ``client_cert`` is ``(chain PEM, key PEM)`` for mutual TLS. A ready context
    already carries whatever client certificate it should present."""
    if verify is False:
        raise ValueError("the authorization server's certificate must be verified")
    if isinstance(verify, ssl.SSLContext):
        if client_cert is not None:
            raise ValueError("load the client certificate into the given SSLContext instead")
        return verify
    cafile = None if verify is True else os.fspath(verify)
    context = ssl.create_default_context(cafile=cafile)
    if client_cert is not None:
        context.load_cert_chain(*client_cert)
    return context


def http_client(
    context: ssl.SSLContext, timeout: float, *, keep_alive: bool = True
) -> httpx.AsyncClient:
    """No redirects, no proxy or CA settings from the environment; ``keep_alive=False`` for
    rare calls (a pooled connection would sit idle for minutes)."""
    limits = httpx.Limits() if keep_alive else httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(
        verify=context, timeout=timeout, follow_redirects=False, trust_env=False, limits=limits
    )


def _json_object(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        document = json.loads(response.content)
    except ValueError:
        raise ResourceServerUnavailableError(f"{url}: the body is not JSON") from None
    if not isinstance(document, dict):
        raise ResourceServerUnavailableError(f"{url}: the body is not a JSON object")
    return document


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> httpx.Response:
    try:
        return await client.send(request)
    except httpx.HTTPError as exc:
        raise ResourceServerUnavailableError(
            f"{request.url}: {type(exc).__name__}: {exc}"
        ) from None


async def get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    """GET ``url``; the JSON object of a 200 answer."""
    response = await _send(client, client.build_request("GET", url))
    if response.status_code != 200:
        raise ResourceServerUnavailableError(f"{url}: HTTP {response.status_code}")
    return _json_object(response, url)


async def post_form(client: httpx.AsyncClient, url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST an urlencoded form to ``url``; the JSON object of a 200 answer."""
    request = client.build_request("POST", url, data=form, headers={"Accept": "application/json"})
    response = await _send(client, request)
    if response.status_code != 200:
        raise ResourceServerUnavailableError(f"{url}: HTTP {response.status_code}")
    return _json_object(response, url)


async def fetch_metadata(client: httpx.AsyncClient, issuer: str) -> dict[str, Any]:
    """The issuer's metadata document (RFC 8414 §3), checked to name ``issuer`` (§3.3)."""
    oauth_url, oidc_url = metadata_urls(issuer)
    url = oauth_url
    response = await _send(client, client.build_request("GET", oauth_url))
    if response.status_code != 200:
        url = oidc_url
        response = await _send(client, client.build_request("GET", oidc_url))
    if response.status_code != 200:
        raise ResourceServerUnavailableError(
            f"no metadata at {oauth_url} nor at {oidc_url} (HTTP {response.status_code})"
        )
    document = _json_object(response, url)
    if document.get("issuer") != issuer:
        raise ResourceServerUnavailableError(
            f"{url}: the metadata names issuer {document.get('issuer')!r}, not {issuer!r}"
        )
    return document
