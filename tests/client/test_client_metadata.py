"""certbound.client._metadata: RFC 8414 discovery (sans-I/O flow) and RFC 8705 §5 aliases.

The flow is driven by hand here (each response is what a server could send); the same flow
against the real authorization server is in tests/e2e/test_client_e2e.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from certbound.client import ClientConfigError, DiscoveryError, ServerMetadata
from certbound.client._metadata import discovery_flow, metadata_urls, parse_metadata

ISSUER = "https://as.example.com"
DOC = {
    "issuer": ISSUER,
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/jwks",
    "mtls_endpoint_aliases": {"token_endpoint": "https://mtls.as.example.com/token"},
}


def drive(issuer: str, *answers: tuple[int, Any]) -> tuple[ServerMetadata, list[str]]:
    """Run the flow, answering each request in turn; also return the URLs requested."""
    flow, asked = discovery_flow(issuer), []
    request = next(flow)
    for status, body in answers:
        asked.append(str(request.url))
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            request = flow.send(httpx.Response(status, content=content, request=request))
        except StopIteration as done:
            return done.value, asked
    raise AssertionError("the flow asked for more requests than answered")


def test_rfc8414_url_is_tried_first() -> None:
    metadata, asked = drive(ISSUER, (200, DOC))
    assert asked == [f"{ISSUER}/.well-known/oauth-authorization-server"]
    assert metadata.issuer == ISSUER and metadata.url == asked[0]


def test_openid_configuration_is_the_fallback() -> None:
    metadata, asked = drive(ISSUER, (404, {}), (200, DOC))
    assert asked[1] == f"{ISSUER}/.well-known/openid-configuration"
    assert metadata.url == asked[1]


def test_issuer_with_a_path_inserts_and_appends_the_well_known_parts() -> None:
    assert metadata_urls("https://as.example.com/tenant/a/") == (
        "https://as.example.com/.well-known/oauth-authorization-server/tenant/a",
        "https://as.example.com/tenant/a/.well-known/openid-configuration",
    )


@pytest.mark.parametrize(
    "issuer",
    [
        "http://as.example.com",
        "https://as.example.com?x=1",
        "https://as.example.com#f",
        "as.example.com",
    ],
)
def test_issuer_must_be_https_without_query_or_fragment(issuer: str) -> None:
    with pytest.raises(ClientConfigError, match="RFC 8414"):
        metadata_urls(issuer)


def test_server_error_stops_discovery() -> None:
    with pytest.raises(DiscoveryError) as info:
        drive(ISSUER, (503, {}))
    assert "oauth-authorization-server: HTTP 503" in info.value.message
    assert "openid-configuration" not in info.value.message


def test_both_urls_missing_lists_both() -> None:
    with pytest.raises(DiscoveryError) as info:
        drive(ISSUER, (404, {}), (403, {}))
    assert (
        "HTTP 404" in info.value.message and "openid-configuration: HTTP 403" in info.value.message
    )


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"<html>", "is not JSON"),
        ([DOC], "is not a JSON object"),
        ({**DOC, "issuer": "https://evil.example.com"}, "RFC 8414 §3.3"),
        ({**DOC, "issuer": f"{ISSUER}/"}, "RFC 8414 §3.3"),
        ({**DOC, "mtls_endpoint_aliases": ["x"]}, "mtls_endpoint_aliases is not an object"),
        (
            {**DOC, "token_endpoint": "http://as.example.com/token"},
            "token_endpoint is not an https",
        ),
        ({**DOC, "mtls_endpoint_aliases": {"token_endpoint": 7}}, "token_endpoint is not an https"),
    ],
    ids=[
        "not-json",
        "array",
        "other-issuer",
        "trailing-slash",
        "aliases-array",
        "http",
        "alias-int",
    ],
)
def test_bad_documents_are_refused(document: Any, message: str) -> None:
    content = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(DiscoveryError, match=message):
        parse_metadata(content, issuer=ISSUER, url=f"{ISSUER}/.well-known/x")


def test_certificate_holder_uses_the_alias_others_the_plain_endpoint() -> None:
    metadata = parse_metadata(json.dumps(DOC).encode(), issuer=ISSUER, url="u")
    alias = "https://mtls.as.example.com/token"
    assert metadata.endpoint("token_endpoint", mtls=True) == alias
    assert metadata.endpoint("token_endpoint", mtls=False) == f"{ISSUER}/token"
    assert metadata.endpoint("jwks_uri", mtls=True) == f"{ISSUER}/jwks"  # not aliased
    assert metadata.is_alias(alias) and not metadata.is_alias(f"{ISSUER}/token")


def test_without_aliases_the_plain_endpoint_is_used() -> None:
    plain = {k: v for k, v in DOC.items() if k != "mtls_endpoint_aliases"}
    metadata = parse_metadata(json.dumps(plain).encode(), issuer=ISSUER, url="u")
    assert metadata.endpoint("token_endpoint", mtls=True) == f"{ISSUER}/token"
    assert not metadata.is_alias(f"{ISSUER}/token")


def test_missing_endpoint_is_a_discovery_error() -> None:
    metadata = parse_metadata(json.dumps({"issuer": ISSUER}).encode(), issuer=ISSUER, url="u")
    with pytest.raises(DiscoveryError, match="lists no token_endpoint"):
        metadata.endpoint("token_endpoint", mtls=True)
