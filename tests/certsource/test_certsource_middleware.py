"""ClientCertificateMiddleware, called as a raw ASGI app with hand-built scopes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from structlog.testing import capture_logs

from certbound.certsource import (
    ClientCertificateMiddleware,
    TrustedProxies,
    format_rfc9440,
    peer_certificate,
)
from certbound.certsource.asgi_tls import chain_key
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate

from .conftest import pem

PROXY_V4, PROXY_V6, STRANGER = "10.0.0.5", "2001:db8::5", "203.0.113.9"
PROXIES = TrustedProxies.from_cidrs(["10.0.0.0/24", "2001:db8::/64"])
UNTRUSTED_BODY = {
    "error": "invalid_request",
    "error_description": "client certificate headers are accepted only from trusted proxies",
}


class Recorder:
    """The inner app: remembers the scope it saw and answers 204."""

    def __init__(self) -> None:
        self.scopes: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})


def scope_for(
    client: str | None = PROXY_V4,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    tls_chain: list[str] | None = None,
    kind: str = "http",
) -> dict[str, Any]:
    items = headers.items() if isinstance(headers, dict) else headers or []
    scope: dict[str, Any] = {
        "type": kind,
        "client": None if client is None else (client, 50000),
        "headers": [(b"host", b"as.example")]
        + [(k.lower().encode(), v.encode("latin-1")) for k, v in items],
    }
    if tls_chain is not None:
        scope["extensions"] = {"tls": {"client_cert_chain": tls_chain, "tls_version": 0x0304}}
    return scope


async def run(
    scope: dict[str, Any], **options: Any
) -> tuple[Recorder, list[dict[str, Any]], list[dict[str, Any]]]:
    """Call the middleware; return the inner app, the messages sent and the log events."""
    inner, sent = Recorder(), []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    middleware = ClientCertificateMiddleware(inner, trusted_proxies=PROXIES, **options)
    with capture_logs() as logs:
        await middleware(scope, receive, send)
    return inner, sent, logs


def response_json(sent: list[dict[str, Any]]) -> tuple[int, dict[str, str], dict[str, str]]:
    start, body = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert headers["content-length"] == str(len(body["body"]))
    return start["status"], headers, json.loads(body["body"])


def seen_peer(inner: Recorder) -> PeerCertificate | None:
    (scope,) = inner.scopes
    return peer_certificate(scope)


def header_names(inner: Recorder) -> list[bytes]:
    return [name for name, _ in inner.scopes[0]["headers"]]


# --- trusted proxies ---------------------------------------------------------------------------


async def test_trusted_proxy_rfc9440_headers_give_the_peer_and_are_stripped(pki) -> None:
    headers = format_rfc9440(PeerCertificate(pki.client.chain, CertificateSource.TLS))
    inner, sent, _ = await run(scope_for(headers=headers))
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.chain == pki.client.chain
    assert peer.source is CertificateSource.RFC9440
    assert header_names(inner) == [b"host"]
    assert sent[0]["status"] == 204


async def test_trusted_ipv6_proxy_is_believed(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS))
    inner, _, _ = await run(scope_for(client=PROXY_V6, headers=headers))
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.leaf == pki.client.cert


async def test_nginx_header_with_a_configured_name(pki) -> None:
    headers = {"X-SSL-Cert": quote(pem(pki.client.cert), safe="")}
    inner, _, _ = await run(scope_for(headers=headers), nginx_header="X-SSL-Cert")
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.source is CertificateSource.NGINX
    assert header_names(inner) == [b"host"]


async def test_xfcc_header_over_several_field_lines(pki) -> None:
    cert = quote(pem(pki.client.cert), safe="")
    lines = [
        ("x-forwarded-client-cert", "By=edge;Cert=" + quote(pem(pki.other_client.cert), safe="")),
        ("x-forwarded-client-cert", f"By=us;Cert={cert}"),
    ]
    inner, _, _ = await run(scope_for(headers=lines))
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.leaf == pki.client.cert
    assert peer.source is CertificateSource.XFCC


async def test_rfc9440_chain_over_several_field_lines(pki) -> None:
    fields = format_rfc9440(PeerCertificate(pki.client.chain, CertificateSource.TLS))
    lines = [
        ("Client-Cert-Chain", fields["Client-Cert-Chain"]),
        ("Client-Cert", fields["Client-Cert"]),
        (
            "Client-Cert-Chain",
            format_rfc9440(PeerCertificate((pki.root.cert,), CertificateSource.TLS))["Client-Cert"],
        ),
    ]
    inner, _, _ = await run(scope_for(headers=lines))
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.chain == (*pki.client.chain, pki.root.cert)


async def test_first_configured_source_wins(pki) -> None:
    headers = {
        **format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS)),
        "x-forwarded-client-cert": "Cert=" + quote(pem(pki.other_client.cert), safe=""),
    }
    inner, _, _ = await run(scope_for(headers=headers))
    assert seen_peer(inner).leaf == pki.client.cert  # type: ignore[union-attr]
    inner, _, _ = await run(scope_for(headers=headers), header_sources=("xfcc", "rfc9440"))
    assert seen_peer(inner).leaf == pki.other_client.cert  # type: ignore[union-attr]


async def test_disabled_source_is_stripped_but_not_read(pki) -> None:
    headers = {"ssl-client-cert": quote(pem(pki.client.cert), safe=""), "accept": "*/*"}
    inner, _, _ = await run(scope_for(headers=headers), header_sources=["rfc9440"])
    assert seen_peer(inner) is None
    assert header_names(inner) == [b"host", b"accept"]


async def test_extra_strip_headers_are_removed(pki) -> None:
    headers = {"X-SSL-Client-Verify": "SUCCESS", "Accept": "*/*"}
    inner, _, _ = await run(scope_for(headers=headers), extra_strip_headers=["x-ssl-client-verify"])
    assert header_names(inner) == [b"host", b"accept"]


# --- no certificate ---------------------------------------------------------------------------


async def test_no_certificate_anywhere_gives_none() -> None:
    inner, sent, logs = await run(scope_for(client=STRANGER, headers={"accept": "*/*"}))
    assert seen_peer(inner) is None
    assert inner.scopes[0]["state"] == {"peer_certificate": None}
    assert sent[0]["status"] == 204
    assert logs == []


async def test_empty_certificate_headers_count_as_absent() -> None:
    headers = {"Client-Cert": " ", "ssl-client-cert": ""}
    inner, _, logs = await run(scope_for(client=STRANGER, headers=headers))
    assert seen_peer(inner) is None
    assert header_names(inner) == [b"host"]
    assert logs == []


async def test_tls_with_an_empty_chain_falls_back_to_proxy_headers(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS))
    inner, _, _ = await run(scope_for(headers=headers, tls_chain=[]))
    assert seen_peer(inner).source is CertificateSource.RFC9440  # type: ignore[union-attr]


# --- TLS extension ----------------------------------------------------------------------------


async def test_tls_extension_gives_the_peer(pki) -> None:
    chain = [pem(c) for c in pki.client.chain]
    inner, _, logs = await run(scope_for(client=STRANGER, tls_chain=chain))
    peer = seen_peer(inner)
    assert peer is not None
    assert peer.source is CertificateSource.TLS
    assert peer.chain == pki.client.chain
    assert logs == []


async def test_tls_wins_over_headers_from_a_trusted_proxy_which_are_stripped(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.other_client.cert,), CertificateSource.TLS))
    scope = scope_for(headers=headers, tls_chain=[pem(pki.client.cert)])
    inner, _, logs = await run(scope)
    peer = seen_peer(inner)
    assert peer is not None
    assert (peer.source, peer.leaf) == (CertificateSource.TLS, pki.client.cert)
    assert header_names(inner) == [b"host"]
    assert logs == [
        {
            "event": "cert_header_ignored",
            "log_level": "warning",
            "peer": PROXY_V4,
            "headers": ["client-cert"],
        }
    ]


async def test_malformed_tls_extension_is_invalid_request() -> None:
    inner, sent, logs = await run(scope_for(tls_chain=["garbage"]))
    assert inner.scopes == []
    status, _, body = response_json(sent)
    assert status == 400
    assert body == {
        "error": "invalid_request",
        "error_description": "TLS client certificate: unexpected text around the PEM certificate",
    }
    assert logs[0]["event"] == "client_certificate_malformed"


# --- untrusted peers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header", ["Client-Cert", "Client-Cert-Chain", "ssl-client-cert", "X-Forwarded-Client-Cert"]
)
async def test_untrusted_peer_sending_a_certificate_header_is_refused(pki, header: str) -> None:
    inner, sent, logs = await run(scope_for(client=STRANGER, headers={header: ":AAAA:"}))
    assert inner.scopes == []
    status, headers, body = response_json(sent)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["cache-control"] == "no-store"
    assert body == UNTRUSTED_BODY
    assert logs == [
        {
            "event": "cert_header_from_untrusted_peer",
            "log_level": "warning",
            "peer": STRANGER,
            "headers": [header.lower()],
        }
    ]


async def test_untrusted_peer_is_refused_even_with_a_tls_certificate(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.other_client.cert,), CertificateSource.TLS))
    scope = scope_for(client=STRANGER, headers=headers, tls_chain=[pem(pki.client.cert)])
    inner, sent, _ = await run(scope)
    assert inner.scopes == []
    assert response_json(sent)[2] == UNTRUSTED_BODY


async def test_unix_socket_peer_is_not_trusted(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS))
    inner, sent, logs = await run(scope_for(client=None, headers=headers))
    assert inner.scopes == []
    assert response_json(sent)[2] == UNTRUSTED_BODY
    assert logs[0]["peer"] is None


async def test_untrusted_websocket_is_closed_with_policy_violation() -> None:
    scope = scope_for(client=STRANGER, headers={"Client-Cert": ":AAAA:"}, kind="websocket")
    inner, sent, _ = await run(scope)
    assert inner.scopes == []
    assert sent == [{"type": "websocket.close", "code": 1008}]


async def test_websocket_from_a_trusted_proxy_gets_the_peer(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS))
    inner, _, _ = await run(scope_for(headers=headers, kind="websocket"))
    assert seen_peer(inner).leaf == pki.client.cert  # type: ignore[union-attr]


# --- malformed headers from a trusted proxy ------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "description"),
    [
        ({"Client-Cert": '"text"'}, "Client-Cert: not a byte sequence"),
        ({"Client-Cert": ":AAAA:"}, "Client-Cert: leaf is not a DER X.509 certificate"),
        ({"Client-Cert-Chain": ":AAAA:"}, "Client-Cert-Chain: sent without Client-Cert"),
        ([("Client-Cert", ":AAAA:")] * 2, "Client-Cert: field sent more than once"),
        ([("ssl-client-cert", "x")] * 2, "ssl-client-cert: field sent more than once"),
        (
            {"ssl-client-cert": "hello"},
            "ssl-client-cert: unexpected text around the PEM certificate",
        ),
        (
            {"x-forwarded-client-cert": "By=a"},
            "x-forwarded-client-cert: last element has no Cert or Chain",
        ),
    ],
)
async def test_malformed_header_from_a_trusted_proxy_is_invalid_request(
    headers: Any, description: str
) -> None:
    inner, sent, logs = await run(scope_for(headers=headers))
    assert inner.scopes == []
    status, _, body = response_json(sent)
    assert status == 400
    assert body == {"error": "invalid_request", "error_description": description}
    (event,) = logs
    assert event["event"] == "client_certificate_malformed"
    assert event["peer"] == PROXY_V4
    assert f"{event['origin']}: {event['reason']}" == description


async def test_private_detail_is_logged_not_sent() -> None:
    _, sent, logs = await run(scope_for(headers={"Client-Cert": ":AAAA:"}))
    detail = logs[0]["detail"]
    assert detail
    assert detail not in sent[1]["body"].decode()


# --- scope handling ---------------------------------------------------------------------------


async def test_lifespan_passes_through_untouched() -> None:
    scope = {"type": "lifespan", "state": {}}
    inner, sent, _ = await run(scope)
    assert sent == []
    assert inner.scopes == [scope]
    assert inner.scopes[0] is scope


async def test_outer_scope_and_existing_state_are_not_mutated(pki) -> None:
    headers = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.TLS))
    scope = scope_for(headers=headers)
    scope["state"] = {"db": "pool"}
    original_headers = list(scope["headers"])
    inner, _, _ = await run(scope)
    assert scope["state"] == {"db": "pool"}
    assert scope["headers"] == original_headers
    assert inner.scopes[0]["state"]["db"] == "pool"
    assert peer_certificate(inner.scopes[0]) is not None


@pytest.mark.parametrize("scope", [{}, {"state": None}, {"state": {"peer_certificate": "x"}}])
def test_peer_certificate_helper_without_a_certificate(scope: dict[str, Any]) -> None:
    assert peer_certificate(scope) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header_sources": ["tls"]}, "header_sources may only name"),
        ({"header_sources": ["pigeon"]}, "'pigeon' is not a valid CertificateSource"),
        ({"header_sources": ["xfcc", "xfcc"]}, "names a source twice"),
        ({"nginx_header": "bad header"}, "not an HTTP header name"),
        ({"extra_strip_headers": ["x:y"]}, "not an HTTP header name"),
    ],
)
def test_bad_configuration_is_rejected(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES, **options)


async def test_starlette_request_state_carries_the_peer(pki) -> None:
    async def whoami(request: Request) -> JSONResponse:
        peer = request.state.peer_certificate
        return JSONResponse({"x5t#S256": peer.thumbprint, "source": peer.source})

    app = ClientCertificateMiddleware(
        Starlette(routes=[Route("/", whoami)]),
        trusted_proxies=TrustedProxies.from_cidrs(["127.0.0.1"]),
    )
    headers = format_rfc9440(PeerCertificate(pki.client.chain, CertificateSource.TLS))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://as.example") as client:
        response = await client.get("/", headers=headers)
    assert response.json() == {
        "x5t#S256": PeerCertificate(pki.client.chain, CertificateSource.TLS).thumbprint,
        "source": "rfc9440",
    }


# ---------------------------------------------------------------- each TLS chain parsed once
def resolve(middleware: ClientCertificateMiddleware, scope: dict[str, Any]) -> Any:
    return middleware._resolve(scope, {})


def chain_pems(issued: Any) -> list[str]:
    return [pem(c) for c in issued.chain]


def test_a_tls_chain_is_parsed_once_into_the_same_peer(pki) -> None:
    middleware = ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES)
    first = resolve(middleware, scope_for(tls_chain=chain_pems(pki.client)))
    again = resolve(middleware, scope_for(tls_chain=chain_pems(pki.client)))
    assert first is again
    assert first == PeerCertificate(pki.client.chain, CertificateSource.TLS)
    other = resolve(middleware, scope_for(tls_chain=chain_pems(pki.other_client)))
    assert other is not None and other.thumbprint != first.thumbprint


async def test_a_malformed_chain_is_refused_every_time_and_never_remembered() -> None:
    scope = scope_for(tls_chain=["not a certificate"])
    for _ in range(2):
        inner, sent, _ = await run(scope)
        assert sent[0]["status"] == 400 and not inner.scopes
    middleware = ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES)
    with pytest.raises(Exception, match="PEM"):
        resolve(middleware, scope)
    assert middleware._peers == {}


def test_a_trusted_proxy_header_is_not_served_from_the_memo(pki) -> None:
    middleware = ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES)
    peer = PeerCertificate(pki.client.chain, CertificateSource.TLS)
    found = {k.lower(): [v] for k, v in format_rfc9440(peer).items()}
    scope = scope_for(tls_chain=chain_pems(pki.client))
    assert middleware._resolve(scope, found) == peer  # TLS wins, as without the memo
    assert middleware._peers == {}


async def test_headers_from_an_untrusted_peer_are_refused_even_with_a_remembered_chain(
    pki,
) -> None:
    middleware = ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES)
    resolve(middleware, scope_for(client=STRANGER, tls_chain=chain_pems(pki.client)))
    headers = format_rfc9440(PeerCertificate(pki.other_client.chain, CertificateSource.TLS))
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = scope_for(client=STRANGER, headers=headers, tls_chain=chain_pems(pki.client))
    await middleware(scope, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"]) == UNTRUSTED_BODY


def test_the_memo_is_bounded(pki, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ClientCertificateMiddleware, "MAX_PEERS", 1)
    middleware = ClientCertificateMiddleware(Recorder(), trusted_proxies=PROXIES)
    resolve(middleware, scope_for(tls_chain=chain_pems(pki.client)))
    resolve(middleware, scope_for(tls_chain=chain_pems(pki.other_client)))
    assert list(middleware._peers) == [tuple(chain_pems(pki.other_client))]


def test_only_a_list_of_pem_strings_is_a_memo_key() -> None:
    assert chain_key({"extensions": {"tls": {"client_cert_chain": ["a", 1]}}}) is None
    assert chain_key({"extensions": {"tls": {"client_cert_chain": []}}}) is None
    assert chain_key({"extensions": None}) is None
    assert chain_key({"extensions": {"tls": {"client_cert_chain": ["a"]}}}) == ("a",)
