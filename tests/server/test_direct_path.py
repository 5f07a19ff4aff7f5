"""The app's direct path to the OAuth endpoints answers exactly as Starlette's router would.

- ``adapter.to_core`` builds, from the raw ASGI scope, the very core Request that Starlette's
  ``Request`` (url.path, url.query, base_url, headers, stream) gave before (property-tested).
- ``routes.direct_routes`` lists only (path, method) pairs that the router sends to that endpoint.
- ``create_app`` answers a matrix of requests byte for byte like a plain Starlette app with the
  same routes and middleware; the certificate middleware parses a TLS chain once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from certbound.certsource import ClientCertificateMiddleware, TrustedProxies
from certbound.core.errors import RequestTooLargeError
from certbound.core.messages import Request, Response
from certbound.server.adapter import OAuthEndpoint, peer_of, read_body, to_core
from certbound.server.app import _http_error, create_app
from certbound.server.routes import ALL_METHODS, build_routes, direct_routes

Scope = dict[str, Any]
PROXIES = TrustedProxies.from_cidrs(["10.0.0.0/8"])


# ---------------------------------------------------------------- to_core vs Starlette's Request
async def reference_core(request: StarletteRequest, limit: int) -> Request:
    """How the adapter built the core Request from a Starlette Request before the direct path."""
    body = b""
    if request.method in ("POST", "PUT", "PATCH"):
        declared = request.headers.get("content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    raise RequestTooLargeError("too large")
            except ValueError:
                raise RequestTooLargeError("invalid Content-Length") from None
        chunks = []
        async for chunk in request.stream():
            chunks.append(chunk)
            if sum(map(len, chunks)) > limit:
                raise RequestTooLargeError("too large")
        body = b"".join(chunks)
    client = request.client
    return Request(
        method=request.method,
        path=request.url.path,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        query=request.url.query,
        peer=peer_of(request),
        client_address=client.host if client else None,
        base_url=str(request.base_url).rstrip("/"),
    )


def receiver(chunks: Sequence[bytes], *, disconnect: bool = False) -> Any:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages = [*messages[:-1], {"type": "http.disconnect"}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    return receive


async def outcome(build: Any, scope: Scope, chunks: Sequence[bytes], disconnect: bool) -> Any:
    try:
        return await build(dict(scope), receiver(chunks, disconnect=disconnect))
    except Exception as exc:  # the type is what both must agree on
        return type(exc).__name__


path_chars = st.sampled_from([*"abz/-_.~%", "?", "#", "\\", "\t", " ", "é", "//"])
hosts = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "as.example.com",
            "as.example.com:8443",
            "[::1]:9443",
            "[::1",
            "a]b",
            "bad host",
            "x:99999",
            "ex\xe4mple",
        ]
    ),
)


@st.composite
def scopes(draw: st.DrawFn) -> tuple[Scope, list[bytes], bool]:
    path = "/" + "".join(draw(st.lists(path_chars, max_size=6)))
    headers: list[tuple[bytes, bytes]] = []
    if (host := draw(hosts)) is not None:
        headers.append((b"host", host.encode("latin-1")))
    extra = draw(st.lists(st.sampled_from([b"x-a", b"X-B", b"content-type"]), max_size=3))
    headers += [(name, b"v\xe9") for name in extra]
    chunks = draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3))
    length = draw(st.sampled_from([None, "auto", "12x", "999999"]))
    if length == "auto":
        headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    elif length is not None:
        headers.append((b"content-length", length.encode()))
    scope: Scope = {
        "type": "http",
        "method": draw(st.sampled_from(["POST", "GET", "PUT", "HEAD"])),
        "scheme": draw(st.sampled_from(["https", "http"])),
        "path": path,
        "root_path": draw(st.sampled_from(["", "", "/base"])),
        "query_string": draw(st.sampled_from([b"", b"a=1&b", b"x=%41#frag", b"\xff"])),
        "headers": headers,
        "server": draw(st.sampled_from([("127.0.0.1", 443), ("::1", 8443), None])),
        "client": draw(st.sampled_from([("10.1.2.3", 5000), None])),
        "state": draw(st.sampled_from([{}, {"peer_certificate": "not a peer"}])),
    }
    return scope, chunks, draw(st.booleans())


@settings(max_examples=200, deadline=None)
@given(scopes())
async def test_to_core_equals_what_starlettes_request_gives(case: Any) -> None:
    scope, chunks, disconnect = case

    async def ours(s: Scope, receive: Any) -> Request:
        return await to_core(s, receive, 64)

    async def reference(s: Scope, receive: Any) -> Request:
        return await reference_core(StarletteRequest(s, receive), 64)

    assert await outcome(ours, scope, chunks, disconnect) == await outcome(
        reference, scope, chunks, disconnect
    )


async def test_read_body_skips_unknown_messages_and_refuses_oversized_streams() -> None:
    messages = [
        {"type": "http.unknown"},
        {"type": "http.request", "body": b"x" * 40, "more_body": True},
        {"type": "http.request", "body": b"y" * 40, "more_body": False},
    ]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    with pytest.raises(RequestTooLargeError, match="larger than 64"):
        await read_body({"headers": []}, receive, 64)


# ---------------------------------------------------------------- direct_routes
class Recorder:
    """The EndpointHandler port: answers a fixed body, remembering each core request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Request]] = []

    async def handle(self, endpoint: str, request: Request) -> Response:
        self.requests.append((endpoint, request))
        if "x-boom" in request.headers:
            raise RuntimeError("a bug: the adapter answers 500 server_error")
        return Response(200, {"endpoint": endpoint, "peer": bool(request.peer)}, {"X-E": "1"})


def test_direct_routes_are_the_oauth_endpoints_with_their_methods() -> None:
    recorder = Recorder()
    routes = build_routes(lambda: recorder, max_body=1024)
    table = direct_routes(routes)
    expected = {
        r.path: r.methods
        for r in routes
        if isinstance(r, Route) and isinstance(r.app, OAuthEndpoint) and not r.param_convertors
    }
    assert {path: methods for path, (methods, _) in table.items()} == expected
    assert table["/token"][0] == frozenset(ALL_METHODS)
    assert table["/jwks"][0] == {"GET", "HEAD"}
    assert "/healthz" not in table


def test_a_route_the_router_would_prefer_keeps_its_methods_off_the_direct_path() -> None:
    async def shadow(_: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse("shadow")

    recorder = Recorder()
    routes = [
        Route("/token", shadow, methods=["POST"]),
        *build_routes(lambda: recorder, max_body=9),
    ]
    methods, _ = direct_routes(routes)["/token"]
    assert "POST" not in methods
    assert "GET" in methods


# ---------------------------------------------------------------- whole app vs plain Starlette
def plain_starlette(provider: Any) -> Starlette:
    return Starlette(
        routes=build_routes(provider, max_body=1024),
        middleware=[Middleware(ClientCertificateMiddleware, trusted_proxies=PROXIES)],
        exception_handlers={HTTPException: _http_error},
    )


async def call(app: Any, scope: Scope, body: bytes = b"") -> tuple[int, list[Any], bytes]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with contextlib.suppress(RuntimeError):  # Starlette re-raises after answering 500
        await app(dict(scope), receiver([body]), send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], sorted(start["headers"]), payload


def http_scope(method: str, path: str, **extra: Any) -> Scope:
    headers = [(b"host", b"as.example.com"), *extra.pop("headers", [])]
    return {
        "type": "http",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": extra.pop("query_string", b""),
        "headers": headers,
        "server": ("127.0.0.1", 8443),
        "client": extra.pop("client", ("192.0.2.7", 5000)),
        **extra,
    }


def tls(issued: Any) -> dict[str, Any]:
    pems = [
        c.public_bytes(__import__("cryptography").hazmat.primitives.serialization.Encoding.PEM)
        for c in issued.chain
    ]
    return {"tls": {"client_cert_chain": [p.decode() for p in pems], "tls_version": 0x0304}}


FORM = [(b"content-type", b"application/x-www-form-urlencoded")]


@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/token", {"headers": FORM}),
        ("GET", "/token", {}),
        ("DELETE", "/token", {}),
        ("POST", "/token", {"query_string": b"x=1"}),
        ("POST", "/token/", {}),
        ("HEAD", "/jwks", {}),
        ("DELETE", "/jwks", {}),
        ("GET", "/.well-known/openid-configuration", {}),
        ("GET", "/healthz", {}),
        ("GET", "/nowhere", {}),
        ("POST", "/token", {"headers": [(b"client-cert", b":AAAA:")]}),
        ("POST", "/token", {"headers": [(b"content-length", b"99999")]}),
        ("POST", "/token", {"headers": [(b"x-boom", b"1")]}),
    ],
)
async def test_the_app_answers_like_plain_starlette(
    method: str, path: str, extra: dict[str, Any], pki: Any
) -> None:
    ours, theirs = Recorder(), Recorder()
    scope = http_scope(method, path, extensions=tls(pki.client), **extra)
    body = b"grant_type=client_credentials"
    fast = create_app(lambda: ours, trusted_proxies=PROXIES, max_body=1024)
    assert await call(fast, scope, body) == await call(plain_starlette(lambda: theirs), scope, body)
    assert ours.requests == theirs.requests


async def test_extra_routes_are_served(pki: Any) -> None:
    async def admin(_: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse("admin")

    app = create_app(Recorder, trusted_proxies=PROXIES, extra_routes=[Route("/admin/x", admin)])
    assert (await call(app, http_scope("GET", "/admin/x")))[2] == b"admin"


def render(response: Response) -> Any:
    """What plain Starlette sends for the core's response: the reference."""
    from starlette.responses import JSONResponse

    if response.json is not None:
        return JSONResponse(dict(response.json), response.status, dict(response.headers),
                            media_type=response.media_type)  # fmt: skip
    return PlainTextResponse(response.text or "", response.status, dict(response.headers),
                             media_type=response.media_type)  # fmt: skip


async def _sent(app: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("a response does not read the request")

    await app({"type": "http"}, receive, send)
    return messages


@pytest.mark.parametrize(
    "response",
    [
        Response(200, {"access_token": "x.y.z", "token_type": "Bearer", "expires_in": 600},
                 {"Cache-Control": "no-store", "Pragma": "no-cache"}),
        Response(201, {"client_id": "Zoë", "scope": ["a", "b"], "n": None, "ok": True}),
        Response(400, {"error": "invalid_request"}, {"WWW-Authenticate": 'Bearer error="x"'}),
        Response(200, text="eyJ.a.b", media_type="application/token-introspection+jwt"),
        Response(200, text="plain ✓"),
        Response(200, text="<p/>", media_type="text/html"),
        Response(200, {"a": 1}, media_type="application/jwk-set+json"),
        Response(204, text=""),
        Response(200, {"a": 1}, {"Content-Type": "application/x-custom", "Content-Length": "7"}),
    ],
)  # fmt: skip
async def test_raw_responses_are_what_starlette_would_send(response: Response) -> None:
    from certbound.server.adapter import raw_response

    assert await _sent(raw_response(response)) == await _sent(render(response))
    again = Response(response.status, {"other": "body"} if response.json else None,
                     response.headers, "longer text" if response.text else None, response.media_type)  # fmt: skip
    assert await _sent(raw_response(again)) == await _sent(render(again))  # cached headers
