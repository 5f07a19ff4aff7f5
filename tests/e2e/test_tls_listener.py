"""Real listeners on 127.0.0.1: uvicorn + certbound's TLS contexts + the ASGI TLS extension.

Two listeners (issuer: certificate optional; mTLS: certificate required) share one event loop in
a background thread, for both uvicorn protocols (httptools on uvloop, h11 on asyncio). Clients
are httpx and the stdlib ``ssl`` module; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from certbound.server.listeners import ListenerGroup, ListenerSpec, bind_socket
from certbound.server.tls import DynamicServerContext, DynamicTrust, build_server_context
from testpki import Issued

pytestmark = pytest.mark.e2e

TIMEOUT = 5.0


async def whoami(request: Request) -> JSONResponse:
    """The TLS extension as the app sees it, plus the client port (one per connection)."""
    tls = request.scope.get("extensions", {}).get("tls")
    return JSONResponse({"tls": tls, "client_port": request.scope["client"][1]})


APP = Starlette(routes=[Route("/whoami", whoami)])


@dataclass
class Running:
    group: ListenerGroup
    trust: DynamicTrust
    files: dict[str, Path]

    def url(self, listener: str) -> str:
        return f"https://127.0.0.1:{self.group.addresses[listener][1]}/whoami"


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls-listener")
    out: dict[str, Path] = {}
    for stem in (
        "server",
        "client",
        "expired",
        "foreign_client",
        "self_signed",
        "self_signed_ca_trap",
    ):
        out[f"{stem}.pem"], out[f"{stem}.key"] = getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    out["root.pem"], out["dir"] = d / "root.pem", d
    return out


@pytest.fixture(
    scope="module",
    params=[("httptools", "uvloop"), ("h11", "asyncio")],
    ids=["httptools-uvloop", "h11-asyncio"],
)
def running(request, pki, files) -> Iterator[Running]:
    http, loop = request.param
    trust = DynamicTrust([pki.root.cert])
    issuer, mtls = (
        DynamicServerContext(
            files["server.pem"], files["server.key"], trust=trust, require_client_cert=required
        )
        for required in (False, True)
    )
    group = ListenerGroup(
        APP,
        [
            ListenerSpec("127.0.0.1", 0, issuer, "issuer"),
            ListenerSpec("127.0.0.1", 0, mtls, "mtls"),
        ],
        http=http,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    thread = threading.Thread(target=group.run, args=(loop,), name=f"listeners-{http}")
    thread.start()
    try:
        assert group.wait_started(TIMEOUT), "listeners did not start"
        yield Running(group, trust, files)
    finally:
        group.request_stop()
        thread.join(15)
        assert not thread.is_alive(), "listeners did not stop"


def client_context(files: dict[str, Path], stem: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=files["root.pem"])
    if stem is not None:
        ctx.load_cert_chain(files[f"{stem}.pem"], files[f"{stem}.key"])
    return ctx


def get(running: Running, listener: str, stem: str | None) -> dict[str, Any]:
    with httpx.Client(verify=client_context(running.files, stem), timeout=TIMEOUT) as client:
        response = client.get(running.url(listener))
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def assert_refused(running: Running, listener: str, stem: str | None) -> None:
    """The handshake fails: a TLS/connection error (TLS 1.3: on first read), never a response."""
    ctx = client_context(running.files, stem)
    with (
        httpx.Client(verify=ctx, timeout=TIMEOUT) as client,
        pytest.raises(httpx.TransportError) as info,
    ):
        client.get(running.url(listener))
    assert not isinstance(info.value, httpx.TimeoutException)


def chain_pem(issued: Issued) -> list[str]:
    return [c.public_bytes(Encoding.PEM).decode("ascii") for c in issued.chain]


# --- mTLS listener ----------------------------------------------------------------------------


def test_mtls_listener_gives_the_app_the_leaf_and_intermediate(running, pki) -> None:
    tls = get(running, "mtls", "client")["tls"]
    assert tls["client_cert_chain"] == chain_pem(pki.client)
    assert tls["client_cert_chain"][0] == pki.client.pem.decode()
    assert tls["tls_version"] == 0x0304
    assert tls["cipher_suite"] in {0x1301, 0x1302, 0x1303}
    assert tls["server_cert"] is None


@pytest.mark.parametrize(
    ("stem", "reason"),
    [
        (None, "PEER_DID_NOT_RETURN_A_CERTIFICATE"),
        ("foreign_client", "CERTIFICATE_VERIFY_FAILED"),
        ("expired", "CERTIFICATE_VERIFY_FAILED"),
    ],
    ids=["no-cert", "untrusted", "expired"],
)
def test_mtls_listener_refuses_missing_or_bad_certificates(
    running, stem, reason, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="certbound.tls"):
        assert_refused(running, "mtls", stem)
    reasons = [
        r.reason for r in caplog.records if getattr(r, "event", None) == "tls_handshake_failed"
    ]
    assert reason in reasons


def test_keep_alive_requests_on_one_connection_all_carry_the_chain(running, pki) -> None:
    with httpx.Client(verify=client_context(running.files, "client"), timeout=TIMEOUT) as client:
        bodies = [client.get(running.url("mtls")).json() for _ in range(3)]
    assert len({b["client_port"] for b in bodies}) == 1  # one TLS connection
    assert all(b["tls"]["client_cert_chain"] == chain_pem(pki.client) for b in bodies)


# --- issuer listener --------------------------------------------------------------------------


def test_issuer_listener_serves_clients_without_a_certificate(running) -> None:
    tls = get(running, "issuer", None)["tls"]
    assert tls["client_cert_chain"] == []
    assert tls["tls_version"] == 0x0304


def test_issuer_listener_passes_a_trusted_chain(running, pki) -> None:
    assert get(running, "issuer", "client")["tls"]["client_cert_chain"] == chain_pem(pki.client)


def test_issuer_listener_refuses_an_untrusted_certificate(running) -> None:
    assert_refused(running, "issuer", "foreign_client")


# --- dynamic trust, over IP-literal connections (no SNI) --------------------------------------


def test_registered_self_signed_certificate_is_accepted_until_removed(running, pki) -> None:
    try:
        assert_refused(running, "mtls", "self_signed")
        running.trust.add(pki.self_signed.cert)
        tls = get(running, "mtls", "self_signed")["tls"]
        assert tls["client_cert_chain"] == [pki.self_signed.pem.decode()]
        running.trust.replace_all(set())
        assert_refused(running, "mtls", "self_signed")
    finally:
        running.trust.replace_all(set())


def test_ca_true_self_signed_certificate_is_never_trusted(running, pki) -> None:
    with pytest.raises(ValueError, match="act as a CA"):
        running.trust.add(pki.self_signed_ca_trap.cert)
    assert_refused(running, "mtls", "self_signed_ca_trap")


# --- protocol floor, with the stdlib client ---------------------------------------------------


def stdlib_handshake(running: Running, ctx: ssl.SSLContext) -> None:
    port = running.group.addresses["mtls"][1]
    with (
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock,
        ctx.wrap_socket(sock, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET /whoami HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert tls.recv(12).startswith(b"HTTP/1.1")


def test_tls12_aead_client_is_served(running) -> None:
    ctx = client_context(running.files, "client")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    stdlib_handshake(running, ctx)


def test_tls11_client_is_refused(running, caplog: pytest.LogCaptureFixture) -> None:
    ctx = client_context(running.files, "client")
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: the point
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    # The client sees the alert (asyncio) or a bare EOF (uvloop); the server's log is exact.
    with caplog.at_level(logging.WARNING, logger="certbound.tls"), pytest.raises(ssl.SSLError):
        stdlib_handshake(running, ctx)
    assert "UNSUPPORTED_PROTOCOL" in [getattr(r, "reason", None) for r in caplog.records]


def test_tls12_client_with_only_cbc_suites_is_refused(
    running, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = client_context(running.files, "client")
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:AES128-SHA")
    with caplog.at_level(logging.WARNING, logger="certbound.tls"), pytest.raises(ssl.SSLError):
        stdlib_handshake(running, ctx)
    assert "NO_SHARED_CIPHER" in [getattr(r, "reason", None) for r in caplog.records]


# --- signals, in a child process --------------------------------------------------------------

SERVE_SCRIPT = """
import asyncio, json, sys
from starlette.applications import Starlette
from certbound.server.listeners import ListenerSpec, bind_socket, run_listeners, serve_listeners
from certbound.server.tls import TrustMaterial, build_server_context

d, mode = sys.argv[1], sys.argv[2]
trust = TrustMaterial.from_pem_file(__import__("pathlib").Path(d) / "root.pem")
specs = []
for name, required in (("issuer", False), ("mtls", True)):
    ctx = build_server_context(
        f"{d}/server.pem", f"{d}/server.key", trust=trust, require_client_cert=required
    )
    sock = bind_socket("127.0.0.1", 0)
    specs.append(ListenerSpec("127.0.0.1", 0, ctx, name, sock=sock))
print(json.dumps([s.sock.getsockname()[1] for s in specs]), flush=True)
if mode == "run":
    run_listeners(Starlette(), specs, loop="uvloop")
else:
    asyncio.run(serve_listeners(Starlette(), specs))
print("stopped", flush=True)
"""


def _readline(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(30)
    assert result, "child produced no output"
    return result[0]


@pytest.mark.parametrize(
    ("mode", "sig"),
    [("run", signal.SIGTERM), ("serve", signal.SIGINT)],
    ids=["run_listeners-uvloop-SIGTERM", "serve_listeners-asyncio-SIGINT"],
)
def test_a_signal_stops_both_listeners_gracefully(files, mode, sig) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVE_SCRIPT, str(files["dir"]), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        ports = json.loads(_readline(proc))
        for port in ports:
            ctx = client_context(files, "client")
            with (
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock,
                ctx.wrap_socket(sock, server_hostname="localhost") as tls,
            ):
                tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert tls.recv(12).startswith(b"HTTP/1.1")
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert out.strip().endswith("stopped")
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_bind_socket_picks_a_free_port_and_refuses_a_taken_one() -> None:
    first = bind_socket("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        assert port > 0
        with pytest.raises(OSError, match="in use"):
            bind_socket("127.0.0.1", port)
    finally:
        first.close()


# --- the group --------------------------------------------------------------------------------


def test_both_listeners_share_one_app_lifespan_and_its_state(pki, files) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        events.append("startup")
        yield {"token": object()}
        events.append("shutdown")

    async def state_id(request: Request) -> JSONResponse:
        return JSONResponse({"token": id(request.state.token)})

    app = Starlette(routes=[Route("/whoami", state_id)], lifespan=lifespan)
    trust = DynamicTrust([pki.root.cert])
    specs = [
        ListenerSpec(
            "127.0.0.1",
            0,
            DynamicServerContext(
                files["server.pem"], files["server.key"], trust=trust, require_client_cert=required
            ),
            name,
        )
        for name, required in (("issuer", False), ("mtls", True))
    ]
    group = ListenerGroup(app, specs, lifespan="on", timeout_graceful_shutdown=2)
    thread = threading.Thread(target=group.run, args=("asyncio",))
    thread.start()
    try:
        assert group.wait_started(TIMEOUT)
        running = Running(group, trust, files)
        tokens = {get(running, name, "client")["token"] for name in ("issuer", "mtls")}
    finally:
        group.request_stop()
        thread.join(15)
    assert not thread.is_alive()
    assert len(tokens) == 1
    assert events == ["startup", "shutdown"]


def test_stop_requested_before_serving_returns_promptly(files, pki) -> None:
    ctx = build_server_context(
        files["server.pem"], files["server.key"], trust=None, require_client_cert=False
    )
    group = ListenerGroup(APP, [ListenerSpec("127.0.0.1", 0, ctx, "issuer")], lifespan="off")
    port = group.addresses["issuer"][1]
    group.request_stop()
    thread = threading.Thread(target=group.run, args=("asyncio",))
    thread.start()
    thread.join(15)
    assert not thread.is_alive()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()


def test_group_needs_listeners_with_unique_names(files) -> None:
    ctx = build_server_context(
        files["server.pem"], files["server.key"], trust=None, require_client_cert=False
    )
    with pytest.raises(ValueError, match="at least one"):
        ListenerGroup(APP, [])
    spec = ListenerSpec("127.0.0.1", 0, ctx, "same")
    with pytest.raises(ValueError, match="unique"):
        ListenerGroup(APP, [spec, spec])


def test_group_refuses_a_taken_port(files) -> None:
    ctx = build_server_context(
        files["server.pem"], files["server.key"], trust=None, require_client_cert=False
    )
    taken = bind_socket("127.0.0.1", 0)
    try:
        specs = [
            ListenerSpec("127.0.0.1", 0, ctx, "issuer"),
            ListenerSpec("127.0.0.1", taken.getsockname()[1], ctx, "mtls"),
        ]
        with pytest.raises(OSError, match="in use"):
            ListenerGroup(APP, specs)
    finally:
        taken.close()
