"""The I/O shortcuts of server/_tlsproto.py: buffered TLS reads and coalesced response writes."""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from certbound.server._tlsproto import BufferedTlsHttpToolsProtocol, TlsHttpToolsProtocol
from certbound.server._wireio import CoalescingTransport, read_buffer
from certbound.server.listeners import ListenerGroup, ListenerSpec, _http_protocol
from certbound.server.tls import TrustMaterial, build_server_context

TIMEOUT = 10.0


class RecordingTransport(asyncio.Transport):
    """A transport that records what reaches it (the wrapper's batching is what is tested)."""

    def __init__(self) -> None:
        super().__init__({"peername": ("192.0.2.1", 1)})
        self.writes: list[bytes] = []
        self.events: list[str] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def write_eof(self) -> None:
        self.events.append("eof")

    def close(self) -> None:
        self.events.append("close")
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7


async def test_writes_of_one_loop_step_leave_as_one_write() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.writelines([b"{", bytearray(b"}"), memoryview(b"")])
    assert real.writes == []
    assert transport.get_write_buffer_size() == 21 + 7
    await asyncio.sleep(0)
    assert real.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert real.writes[1:] == [b"next"]


async def test_close_and_write_eof_send_what_is_held_first() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"a")
    transport.write_eof()
    transport.write(b"b")
    transport.close()
    assert real.writes == [b"a", b"b"]
    assert real.events == ["eof", "close"]
    transport.write(b"late")
    await asyncio.sleep(0)
    assert real.writes == [b"a", b"b"]  # the transport is closing: dropped, as it would be


async def test_a_large_response_is_not_held_back() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"x" * CoalescingTransport.LIMIT)
    assert len(real.writes) == 1
    await asyncio.sleep(0)
    assert len(real.writes) == 1


async def test_everything_else_is_the_real_transport() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    assert transport.get_extra_info("peername") == ("192.0.2.1", 1)
    assert transport.is_closing() is False


def test_the_read_buffer_is_reused_and_writable() -> None:
    first = read_buffer()
    first[:3] = b"abc"
    assert read_buffer() is first
    assert len(first) >= 64 * 1024


def test_httptools_listeners_use_the_buffered_protocol() -> None:
    assert _http_protocol("httptools") is BufferedTlsHttpToolsProtocol
    assert not issubclass(BufferedTlsHttpToolsProtocol, asyncio.Protocol)  # uvloop: buffered


# ---------------------------------------------------------------- over real TLS
async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answers the SHA-256 of the request body and the client chain length it saw."""
    if scope["type"] != "http":
        return
    digest, more = hashlib.sha256(), True
    while more:
        message = await receive()
        digest.update(message.get("body", b""))
        more = message.get("more_body", False)
    chain = scope.get("extensions", {}).get("tls", {}).get("client_cert_chain", [])
    body = f"{digest.hexdigest()} {len(chain)}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def tls_files(pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tlsproto-io")
    out: dict[str, Path] = {}
    for stem in ("server", "client"):
        out[f"{stem}.pem"], out[f"{stem}.key"] = getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    out["root.pem"] = d / "root.pem"
    return out


@pytest.fixture(scope="module", params=["uvloop", "asyncio"])
def echo_url(request, pki, tls_files) -> Iterator[str]:
    context = build_server_context(
        tls_files["server.pem"],
        tls_files["server.key"],
        trust=TrustMaterial((pki.root.cert,)),
        require_client_cert=True,
    )
    group = ListenerGroup(
        echo, [ListenerSpec("127.0.0.1", 0, context, "api")], lifespan="off", http="httptools"
    )
    thread = threading.Thread(target=group.run, args=(request.param,))
    thread.start()
    try:
        assert group.wait_started(TIMEOUT)
        yield f"https://127.0.0.1:{group.addresses['api'][1]}/echo"
    finally:
        group.request_stop()
        thread.join(15)
        assert not thread.is_alive()


def test_large_bodies_and_keep_alive_requests_arrive_whole(echo_url, tls_files) -> None:
    ctx = ssl.create_default_context(cafile=tls_files["root.pem"])
    ctx.load_cert_chain(tls_files["client.pem"], tls_files["client.key"])
    bodies = [b"", b"grant_type=client_credentials", bytes(range(256)) * 1200]  # 300 KiB
    with httpx.Client(verify=ctx, timeout=TIMEOUT) as client:
        for body in bodies * 2:  # one connection, six requests
            response = client.post(echo_url, content=body)
            assert response.status_code == 200
            assert response.text == f"{hashlib.sha256(body).hexdigest()} 2"
        assert client.get(echo_url).text.endswith(" 2")


async def test_the_uvicorn_protocol_receives_the_bytes_unchanged() -> None:
    received: list[bytes] = []

    class Inner(TlsHttpToolsProtocol):
        def __init__(self) -> None:  # no uvicorn server around it: only data_received is used
            pass

        def data_received(self, data: bytes) -> None:
            received.append(data)

    wrapper = BufferedTlsHttpToolsProtocol.__new__(BufferedTlsHttpToolsProtocol)
    wrapper.protocol = Inner()
    buffer = wrapper.get_buffer(100)
    buffer[:5] = b"GET /"
    wrapper.buffer_updated(5)
    wrapper.data_received(b" HTTP/1.1\r\n")
    assert received == [b"GET /", b" HTTP/1.1\r\n"]
    assert all(type(chunk) is bytes for chunk in received)
