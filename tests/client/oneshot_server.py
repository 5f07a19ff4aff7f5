"""A one-connection TLS + HTTP/1.1 server on 127.0.0.1, for real handshakes in client tests."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT = 5.0
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"


@dataclass
class OneShot:
    port: int
    peer_certs: list[bytes] = field(default_factory=list)  # DER of the client leaf, if any
    errors: list[BaseException] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


def server_context(
    chain: Path, key: Path, *, client_ca: Path | None, require: bool = True
) -> ssl.SSLContext:
    """A server context; with ``client_ca`` it asks for a client certificate chaining to it."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, key)
    if client_ca is not None:
        ctx.load_verify_locations(client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED if require else ssl.CERT_OPTIONAL
    return ctx


@contextlib.contextmanager
def serve_once(context: ssl.SSLContext, *, respond: bool = True) -> Iterator[OneShot]:
    """Accept one connection: handshake, read one request, answer 200 "ok" (errors recorded).

    ``respond=False`` hangs up after the request instead (as a server refusing late would)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)
        shot = OneShot(listener.getsockname()[1])

        def serve() -> None:
            try:
                conn, _ = listener.accept()
            except OSError as exc:  # nobody came
                shot.errors.append(exc)
                return
            conn.settimeout(TIMEOUT)
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    shot.peer_certs.append(tls.getpeercert(binary_form=True) or b"")
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = tls.recv(4096)
                        if not chunk:
                            return
                        request += chunk
                    if respond:
                        tls.sendall(RESPONSE)
            except (ssl.SSLError, OSError) as exc:
                shot.errors.append(exc)
            finally:
                conn.close()

        thread = threading.Thread(target=serve, name="oneshot-tls")
        thread.start()
        try:
            yield shot
        finally:
            thread.join(TIMEOUT * 2)
            assert not thread.is_alive(), "the one-shot server did not stop"
