"""AS → client → gateway → upstream over real TLS: `certbound gateway` in front of a plain service.

The real authorization server issues tokens. The gateway (``certbound.resource.gateway``) runs
on certbound's TLS listener (client certificate requested) and forwards to an upstream: a small
Starlette app on a plain-HTTP 127.0.0.1 listener that echoes what it received. The same checks
as at the resource server apply; on top, the identity headers, header hygiene, streaming in both
directions, 502/504, the behind-a-proxy mode and introspection mode are exercised.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio
import httpx
import pytest
import uvicorn
from asserver import AsServer
from rshelpers import (
    CLIENT_DN,
    EXPIRED,
    OTHER_AUDIENCE,
    OTHER_DN,
    OTHER_ISSUER,
    UNKNOWN_KID,
    SkewClock,
    dn_client,
    mint,
    register,
    running_command,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from certbound.certsource import TrustedProxies, format_rfc9440
from certbound.cli._resource_server import background_listeners, bind
from certbound.client import Client
from certbound.core.mtls.binding import NO_CERTIFICATE, OTHER_CERTIFICATE
from certbound.core.mtls.certificate import CertificateSource, PeerCertificate
from certbound.keys import LocalSigner
from certbound.resource import AccessTokenVerifier, IntrospectionVerifier, RemoteJwks
from certbound.resource.gateway import Gateway, GatewayConfig
from certbound.resource.introspection import NOT_ACTIVE
from certbound.server.tls import TrustMaterial, build_server_context
from conftest import PkiFiles

pytestmark = pytest.mark.e2e

WAIT = 5.0  # seconds a streaming test waits for the other side


# --- the upstream: a plain-HTTP echo service ------------------------------------------------


@dataclass
class Upstream:
    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    first_chunk_up: threading.Event = field(default_factory=threading.Event)
    release_down: threading.Event = field(default_factory=threading.Event)
    down_finished: threading.Event = field(default_factory=threading.Event)

    def reset(self) -> None:
        self.seen.clear()
        for event in (self.first_chunk_up, self.release_down, self.down_finished):
            event.clear()

    def headers(self, index: int = -1) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in self.seen[index]["headers"]:
            out.setdefault(name, []).append(value)
        return out


async def _wait(event: threading.Event) -> bool:
    return await anyio.to_thread.run_sync(event.wait, WAIT)


def upstream_app(state: Upstream) -> Starlette:
    async def echo(request: Request) -> Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.stream():
            if chunk:
                state.first_chunk_up.set()
            digest.update(chunk)
            size += len(chunk)
        record = {
            "method": request.method,
            "path": request.scope["raw_path"].decode(),
            "query": request.scope["query_string"].decode(),
            "headers": [(n.decode(), v.decode()) for n, v in request.headers.raw],
            "size": size,
            "sha256": digest.hexdigest(),
        }
        state.seen.append(record)
        return JSONResponse(record, headers={"x-upstream": "echo", "keep-alive": "timeout=5"})

    async def stream_down(_request: Request) -> Response:
        async def body() -> AsyncIterator[bytes]:
            yield b"first\n"
            released = await _wait(state.release_down)
            state.down_finished.set()
            yield b"second\n" if released else b"never released\n"

        return StreamingResponse(body(), media_type="text/plain")

    async def slow(_request: Request) -> Response:
        await asyncio.sleep(2)
        return Response("late")

    return Starlette(
        routes=[
            Route("/base/stream", stream_down),
            Route("/slow", slow),
            Route("/{path:path}", echo, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
    )


@contextmanager
def plain_http(app: Any) -> Iterator[str]:
    """Serve ``app`` on plain HTTP at a free 127.0.0.1 port in a thread."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, ws="none", lifespan="on", proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.01)
    assert server.started, "the plain HTTP server did not start"
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clients(as_server: AsServer) -> None:
    """rs-client (client.pem, read write), writer (other_client.pem, write only) and
    gateway-rs (other_client.pem), the gateway's own identity for introspection."""
    register(
        as_server,
        dn_client("rs-client", CLIENT_DN, ("read", "write")),
        dn_client("writer", OTHER_DN, ("write",)),
        dn_client("gateway-rs", OTHER_DN, (), certbound_introspect_any=True),
    )


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    state = Upstream()
    with plain_http(upstream_app(state)) as url:
        state.url = url
        yield state


@pytest.fixture
def echo(upstream: Upstream) -> Upstream:
    upstream.reset()
    return upstream


def jwt_verifier(server: AsServer, files: PkiFiles) -> AccessTokenVerifier:
    return AccessTokenVerifier(RemoteJwks(server.issuer, verify=files.root), audience=server.issuer)


@contextmanager
def tls_gateway(files: PkiFiles, gateway: Gateway) -> Iterator[str]:
    context = build_server_context(
        *files.pair("server"),
        trust=TrustMaterial.from_pem_file(files.root),
        require_client_cert=False,
    )
    sock = bind("127.0.0.1", 0)
    with background_listeners(gateway, {"gateway": (sock, context)}):
        yield f"https://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture(scope="module")
def gateway_clock() -> SkewClock:
    return SkewClock()


@pytest.fixture(scope="module")
def gateway(
    as_server: AsServer,
    pki_files: PkiFiles,
    clients: None,
    upstream: Upstream,
    gateway_clock: SkewClock,
) -> Iterator[str]:
    """The gateway under test: upstream ``/base``, scope ``read`` required, realm ``gw``."""
    config = GatewayConfig(upstream.url + "/base", required_scopes=("read",), realm="gw")
    verifier = AccessTokenVerifier(
        RemoteJwks(as_server.issuer, verify=pki_files.root),
        audience=as_server.issuer,
        clock=gateway_clock,
    )
    with tls_gateway(pki_files, Gateway(config, verifier)) as url:
        yield url


def library_client(server: AsServer, files: PkiFiles, stem: str = "client") -> Client:
    client_id = {"client": "rs-client", "other_client": "writer"}[stem]
    return Client(server.issuer, *files.pair(stem), client_id=client_id, ca=files.root)


def token_for(server: AsServer, files: PkiFiles, stem: str = "client") -> str:
    with library_client(server, files, stem) as client:
        return client.token().access_token


def call(
    server: AsServer,
    files: PkiFiles,
    url: str,
    token: str | None,
    stem: str | None = "client",
    **kwargs: Any,
) -> httpx.Response:
    headers = {
        **kwargs.pop("headers", {}),
        **({"Authorization": f"Bearer {token}"} if token else {}),
    }
    with server.client(*(files.pair(stem) if stem else (None, None))) as http:
        return http.request(kwargs.pop("method", "GET"), url, headers=headers, **kwargs)


def assert_invalid_token(
    response: httpx.Response, description: str, realm: str | None = "gw"
) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {"error": "invalid_token", "error_description": description}
    prefix = f'realm="{realm}", ' if realm else ""
    assert response.headers["www-authenticate"] == (
        f'Bearer {prefix}error="invalid_token", error_description="{description}"'
    )


# --- identity and header hygiene ----------------------------------------------------------


def test_bound_token_reaches_the_upstream_with_the_verified_identity(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    with library_client(as_server, pki_files) as client, client.http() as http:
        response = http.post(f"{gateway}/pay%20ments/1?x=1&y=%2F", content=body)
    assert response.status_code == 200, response.text
    assert response.headers["x-upstream"] == "echo" and "keep-alive" not in response.headers
    seen = echo.seen[-1]
    assert (seen["method"], seen["path"], seen["query"]) == (
        "POST",
        "/base/pay%20ments/1",
        "x=1&y=%2F",
    )
    assert (seen["size"], seen["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
    headers = echo.headers()
    assert headers["x-certbound-client-id"] == ["rs-client"]
    assert headers["x-certbound-subject"] == ["rs-client"]
    assert headers["x-certbound-scope"] == ["read write"]
    assert headers["x-certbound-cnf-x5t-s256"] == [client.thumbprint]
    assert headers["host"] == [echo.url.removeprefix("http://")]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["https"]
    assert headers["x-forwarded-host"] == [gateway.removeprefix("https://")]
    assert headers["authorization"][0].startswith("Bearer ")


def test_forged_identity_and_forwarding_headers_are_replaced(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    forged = {
        "X-Certbound-Client-Id": "admin",
        "X-Certbound-Scope": "admin",
        "X-Certbound-Role": "root",
        "X-Forwarded-For": "10.9.9.9",
        "X-Forwarded-Proto": "http",
        "Forwarded": "for=10.9.9.9",
    }
    token = token_for(as_server, pki_files)
    response = call(as_server, pki_files, f"{gateway}/x", token, headers=forged)
    assert response.status_code == 200, response.text
    headers = echo.headers()
    assert headers["x-certbound-client-id"] == ["rs-client"]
    assert headers["x-certbound-scope"] == ["read write"]
    assert "x-certbound-role" not in headers and "forwarded" not in headers
    assert headers["x-forwarded-for"] == ["127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["https"]


def test_hop_by_hop_headers_are_not_forwarded(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    token = token_for(as_server, pki_files)
    hop = {"Connection": "keep-alive, X-Hop", "X-Hop": "1", "Keep-Alive": "timeout=5",
           "TE": "trailers", "Proxy-Authorization": "Basic eA==", "X-End-To-End": "kept"}  # fmt: skip
    response = call(as_server, pki_files, f"{gateway}/x", token, headers=hop)
    assert response.status_code == 200, response.text
    headers = echo.headers()
    assert headers["x-end-to-end"] == ["kept"]
    for name in ("x-hop", "keep-alive", "te", "proxy-authorization"):
        assert name not in headers, name


def test_certificate_header_from_an_untrusted_peer_is_refused(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream, pki
) -> None:
    forged = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.RFC9440))
    token = token_for(as_server, pki_files)
    response = call(as_server, pki_files, f"{gateway}/x", token, stem=None, headers=forged)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert echo.seen == []


# --- the same checks as the resource server ------------------------------------------------


def test_same_token_with_another_certificate_is_invalid_token_and_not_forwarded(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    token = token_for(as_server, pki_files)
    response = call(as_server, pki_files, f"{gateway}/x", token, "other_client")
    assert_invalid_token(response, OTHER_CERTIFICATE)
    assert echo.seen == []


def test_token_without_a_certificate_is_invalid_token(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    response = call(as_server, pki_files, f"{gateway}/x", token_for(as_server, pki_files), None)
    assert_invalid_token(response, NO_CERTIFICATE)
    assert echo.seen == []


@pytest.mark.parametrize(
    ("case", "description"),
    [
        ("expired", EXPIRED),
        ("wrong_audience", OTHER_AUDIENCE),
        ("wrong_issuer", OTHER_ISSUER),
        ("unknown_kid", UNKNOWN_KID),
    ],
)
def test_bad_token_is_invalid_token_and_not_forwarded(
    as_server: AsServer,
    pki_files: PkiFiles,
    gateway: str,
    echo: Upstream,
    case: str,
    description: str,
) -> None:
    token = {
        "expired": lambda: mint(as_server, pki_files, issued_at=time.time() - 3600),
        "wrong_audience": lambda: mint(as_server, pki_files, audience="https://other.example"),
        "wrong_issuer": lambda: mint(as_server, pki_files, issuer="https://other-as.example"),
        "unknown_kid": lambda: mint(as_server, pki_files, signer=LocalSigner.generate("ES256")),
    }[case]()
    assert_invalid_token(call(as_server, pki_files, f"{gateway}/x", token), description)
    assert echo.seen == []


def test_token_without_the_gateway_scope_is_insufficient_scope(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    token = token_for(as_server, pki_files, "other_client")
    response = call(as_server, pki_files, f"{gateway}/x", token, "other_client")
    assert response.status_code == 403
    assert response.json()["error"] == "insufficient_scope"
    assert response.headers["www-authenticate"].endswith('error_description="the token lacks a '
                                                         'scope this resource requires", scope="read"')  # fmt: skip
    assert echo.seen == []


def test_client_library_recovers_through_the_gateway_from_an_expired_token(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, gateway_clock: SkewClock, echo: Upstream
) -> None:
    """The gateway's clock is an hour ahead for the first request only (see the RS test)."""
    seen: list[str] = []

    def skew_first_request(request: httpx.Request) -> None:
        seen.append(request.headers["authorization"])
        gateway_clock.skew = 3600.0 if len(seen) == 1 else 0.0

    try:
        with (
            library_client(as_server, pki_files) as client,
            client.http(event_hooks={"request": [skew_first_request]}) as http,
        ):
            response = http.get(f"{gateway}/a")
    finally:
        gateway_clock.skew = 0.0
    assert response.status_code == 200, response.text
    assert response.history[0].json()["error_description"] == EXPIRED
    assert len(seen) == 2 and seen[0] != seen[1]
    assert len(echo.seen) == 1


# --- streaming -------------------------------------------------------------------------------


def test_request_body_is_streamed_to_the_upstream(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    def body() -> Iterator[bytes]:
        yield b"a" * 65536
        # The upstream has the first part before the client sends the second: not buffered.
        assert echo.first_chunk_up.wait(WAIT), "the gateway buffered the request body"
        yield b"b" * 65536

    token = token_for(as_server, pki_files)
    response = call(as_server, pki_files, f"{gateway}/upload", token, method="POST", content=body())
    assert response.status_code == 200, response.text
    assert response.json()["size"] == 131072
    assert echo.headers().get("transfer-encoding") == ["chunked"]


def test_response_body_is_streamed_back(
    as_server: AsServer, pki_files: PkiFiles, gateway: str, echo: Upstream
) -> None:
    token = token_for(as_server, pki_files)
    with (
        as_server.client(*pki_files.pair("client")) as http,
        http.stream("GET", f"{gateway}/stream", headers={"Authorization": f"Bearer {token}"}) as r,
    ):
        chunks = r.iter_bytes()
        first = next(chunks)
        still_waiting = not echo.down_finished.is_set()
        echo.release_down.set()
        rest = b"".join(chunks)
    assert r.status_code == 200
    assert first == b"first\n" and still_waiting, "the gateway buffered the response body"
    assert rest == b"second\n"


# --- upstream failures -------------------------------------------------------------------------


def test_upstream_down_is_502_json(as_server: AsServer, pki_files: PkiFiles, clients: None) -> None:
    closed = bind("127.0.0.1", 0)
    port = closed.getsockname()[1]
    closed.close()
    gateway = Gateway(GatewayConfig(f"http://127.0.0.1:{port}"), jwt_verifier(as_server, pki_files))
    with tls_gateway(pki_files, gateway) as url:
        response = call(as_server, pki_files, f"{url}/x", token_for(as_server, pki_files))
    assert response.status_code == 502
    assert response.json() == {
        "error": "bad_gateway",
        "error_description": "the upstream service cannot be reached",
    }


def test_upstream_timeout_is_504_json(
    as_server: AsServer, pki_files: PkiFiles, clients: None, upstream: Upstream
) -> None:
    config = GatewayConfig(upstream.url, timeout=0.3)
    with tls_gateway(pki_files, Gateway(config, jwt_verifier(as_server, pki_files))) as url:
        response = call(as_server, pki_files, f"{url}/slow", token_for(as_server, pki_files))
    assert response.status_code == 504
    assert response.json() == {
        "error": "gateway_timeout",
        "error_description": "the upstream service did not answer in time",
    }


# --- behind a TLS-terminating proxy; introspection --------------------------------------------


def test_behind_a_trusted_proxy_the_certificate_comes_from_its_header(
    as_server: AsServer, pki_files: PkiFiles, clients: None, echo: Upstream, pki
) -> None:
    config = GatewayConfig(echo.url, trusted_proxies=TrustedProxies.from_cidrs(["127.0.0.1/32"]))
    token = token_for(as_server, pki_files)
    proxy_headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                     "X-Forwarded-Host": "api.example", "Authorization": f"Bearer {token}"}  # fmt: skip
    client_cert = format_rfc9440(PeerCertificate((pki.client.cert,), CertificateSource.RFC9440))
    other_cert = format_rfc9440(
        PeerCertificate((pki.other_client.cert,), CertificateSource.RFC9440)
    )
    with (
        plain_http(Gateway(config, jwt_verifier(as_server, pki_files))) as url,
        httpx.Client() as http,
    ):
        good = http.get(f"{url}/x", headers={**proxy_headers, **client_cert})
        other = http.get(f"{url}/x", headers={**proxy_headers, **other_cert})
    assert good.status_code == 200, good.text
    headers = echo.headers(0)
    assert headers["x-certbound-client-id"] == ["rs-client"]
    assert headers["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]
    assert headers["x-forwarded-proto"] == ["https"]
    assert headers["x-forwarded-host"] == ["api.example"]
    assert "client-cert" not in headers
    assert_invalid_token(other, OTHER_CERTIFICATE, realm=None)
    assert len(echo.seen) == 1


def test_introspection_mode_forwards_active_tokens_and_refuses_revoked_ones(
    as_server: AsServer, pki_files: PkiFiles, clients: None, echo: Upstream
) -> None:
    verifier = IntrospectionVerifier(
        as_server.issuer,
        client_id="gateway-rs",
        verify=pki_files.root,
        client_cert=pki_files.pair("other_client"),
        audience=as_server.issuer,
    )
    active, revoked = token_for(as_server, pki_files), mint(as_server, pki_files)
    with as_server.client(*pki_files.pair("client")) as http:
        answer = http.post(
            f"{as_server.mtls}/revoke", data={"token": revoked, "client_id": "rs-client"}
        )
    assert answer.status_code == 200
    with tls_gateway(pki_files, Gateway(GatewayConfig(echo.url), verifier)) as url:
        good = call(as_server, pki_files, f"{url}/x", active)
        refused = call(as_server, pki_files, f"{url}/x", revoked)
    assert good.status_code == 200, good.text
    assert unquote(echo.headers(0)["x-certbound-client-id"][0]) == "rs-client"
    assert_invalid_token(refused, NOT_ACTIVE, realm=None)
    assert len(echo.seen) == 1


# --- `certbound gateway`, the command --------------------------------------------------------


def test_gateway_command_forwards_with_the_identity(
    as_server: AsServer, pki_files: PkiFiles, clients: None, echo: Upstream, tmp_path: Path
) -> None:
    cert, key = pki_files.pair("server")
    args = ["gateway", "--upstream", echo.url, "--issuer", as_server.issuer, "--port", "0",
            "--tls-cert", str(cert), "--tls-key", str(key), "--trust-anchors", str(pki_files.root),
            "--ca", str(pki_files.root), "--scope", "read", "--data-dir", str(tmp_path)]  # fmt: skip
    with (
        running_command(args, r"certbound gateway — (https://\S+)") as url,
        library_client(as_server, pki_files) as client,
        client.http() as http,
    ):
        response = http.get(f"{url}/hello")
    assert response.status_code == 200, response.text
    assert echo.headers()["x-certbound-client-id"] == ["rs-client"]


def test_gateway_command_behind_a_proxy_listens_on_plain_http(
    as_server: AsServer, pki_files: PkiFiles, clients: None, echo: Upstream, pki
) -> None:
    args = ["gateway", "--no-tls", "--trusted-proxy", "127.0.0.1", "--upstream", echo.url,
            "--issuer", as_server.issuer, "--ca", str(pki_files.root), "--port", "0"]  # fmt: skip
    peer = PeerCertificate((pki.client.cert,), CertificateSource.RFC9440)
    headers = {**format_rfc9440(peer), "Authorization": f"Bearer {token_for(as_server, pki_files)}"}
    with running_command(args, r"certbound gateway — (http://\S+)") as url, httpx.Client() as http:
        response = http.get(f"{url}/hello", headers=headers)
    assert response.status_code == 200, response.text
    assert echo.headers()["x-certbound-cnf-x5t-s256"] == [peer.thumbprint]
