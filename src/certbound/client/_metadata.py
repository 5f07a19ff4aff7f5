"""Authorization server metadata for the client: RFC 8414 discovery and RFC 8705 §5 aliases.

Discovery tries ``/.well-known/oauth-authorization-server`` (RFC 8414 §3.1: inserted between the
host and the issuer's path), then ``/.well-known/openid-configuration`` (OpenID Connect Discovery
1.0 §4: appended to the issuer). The returned ``issuer`` must be identical to the one asked for
(RFC 8414 §3.3), or the document is refused.

A client with a certificate uses ``mtls_endpoint_aliases[name]`` when the server lists it, and
the plain endpoint otherwise (RFC 8705 §5).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import httpx

from certbound.client._errors import ClientConfigError, DiscoveryError
from certbound.client._transport import Flow
from certbound.core.endpoints.discovery import metadata_urls as discovery_metadata_urls

__all__ = ["ServerMetadata", "discovery_flow", "metadata_urls", "parse_metadata"]

MTLS_ENDPOINT_ALIASES = "mtls_endpoint_aliases"


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """A verified metadata document; ``url`` is where it was read."""

    issuer: str
    url: str
    document: Mapping[str, Any] = field(compare=False, repr=False)

    def endpoint(self, name: str, *, mtls: bool) -> str:
        """The URL of ``name`` (e.g. ``"token_endpoint"``): with ``mtls``, its RFC 8705 §5 alias
        when listed; :class:`DiscoveryError` when the server lists neither."""
        aliases = self.document.get(MTLS_ENDPOINT_ALIASES) or {}
        url = aliases.get(name) if mtls else None
        url = url or self.document.get(name)
        if not url:
            raise DiscoveryError(f"the metadata at {self.url} lists no {name}")
        return str(url)

    def is_alias(self, url: str) -> bool:
        """Whether ``url`` is one of the server's mTLS endpoint aliases."""
        aliases = self.document.get(MTLS_ENDPOINT_ALIASES) or {}
        return url in aliases.values()


def metadata_urls(issuer: str) -> tuple[str, str]:
    """The RFC 8414 §3.1 and OIDC Discovery §4 URLs for ``issuer`` (checked: https, no query)."""
    parts = urlsplit(issuer)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ClientConfigError(
            f"the issuer must be an https URL without query or fragment (RFC 8414 §2): {issuer!r}"
        )
    return discovery_metadata_urls(issuer)


def discovery_flow(issuer: str) -> Flow[ServerMetadata]:
    """Fetch and verify the metadata: the RFC 8414 URL first, the OIDC one when it is absent."""
    failures: list[str] = []
    for url in metadata_urls(issuer):
        response = yield httpx.Request("GET", url, headers={"Accept": "application/json"})
        if response.status_code == 200:
            return parse_metadata(response.content, issuer=issuer, url=url)
        failures.append(f"{url}: HTTP {response.status_code}")
        if response.status_code >= 500:
            break
    raise DiscoveryError(f"no authorization server metadata for {issuer} ({'; '.join(failures)})")


def parse_metadata(content: bytes, *, issuer: str, url: str) -> ServerMetadata:
    """Check the document: a JSON object, the same issuer (§3.3), https endpoint URLs."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise DiscoveryError(f"the metadata at {url} is not JSON") from None
    if not isinstance(document, dict):
        raise DiscoveryError(f"the metadata at {url} is not a JSON object")
    if document.get("issuer") != issuer:
        raise DiscoveryError(
            f"the metadata at {url} names the issuer {document.get('issuer')!r}, not {issuer!r} "
            f"(RFC 8414 §3.3 requires them identical): check the issuer URL"
        )
    aliases = document.get(MTLS_ENDPOINT_ALIASES, {})
    if not isinstance(aliases, dict):
        raise DiscoveryError(f"the metadata at {url}: {MTLS_ENDPOINT_ALIASES} is not an object")
    endpoints = [(k, v) for k, v in document.items() if k.endswith("_endpoint")]
    for name, value in [*endpoints, *aliases.items()]:
        if not isinstance(value, str) or urlsplit(value).scheme != "https":
            raise DiscoveryError(f"the metadata at {url}: {name} is not an https URL")
    return ServerMetadata(issuer, url, MappingProxyType(document))
