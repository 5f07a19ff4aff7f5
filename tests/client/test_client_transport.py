"""certbound.client._transport: TLS failures named by real handshakes against a local server.

(The same errors against the real authorization server, with uvicorn's way of refusing — a
closed connection rather than an alert — are in tests/e2e/test_client_e2e.py.)
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import struct
import threading
from pathlib import Path

import httpx
import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from oneshot_server import TIMEOUT, serve_once, server_context

from certbound.client import (
    ClientIdentity,
    HandshakeRefusedError,
    ServerNotTrustedError,
    load_client_identity,
)
from certbound.client._transport import AsyncExplainingTransport, ExplainingTransport
from testpki import NOW, make_leaf, make_server


@pytest.fixture
def files(pki, tmp_path: Path) -> Path:
    for stem in ("client", "server", "foreign_client", "expired"):
        getattr(pki, stem).write(tmp_path, stem)
    (tmp_path / "root.pem").write_bytes(pki.root.pem)
    (tmp_path / "foreign-root.pem").write_bytes(pki.foreign_root.pem)
    make_server(pki.intermediate, hosts=("other.example",), ips=()).write(tmp_path, "misnamed")
    make_leaf(pki.intermediate, "127.0.0.1", ips=("127.0.0.1",), eku=(ExtendedKeyUsageOID.SERVER_AUTH,),
              not_before=NOW - dt.timedelta(days=9), not_after=NOW - dt.timedelta(days=2)
              ).write(tmp_path, "stale_server")  # fmt: skip
    return tmp_path


def client(
    files: Path, stem: str | None, *, ca: str = "root.pem", tls12: bool = False
) -> tuple[httpx.Client, ClientIdentity | None]:
    identity = load_client_identity(files / f"{stem}.pem", files / f"{stem}.key") if stem else None
    if identity is not None:
        context = identity.ssl_context(files / ca)
    else:
        context = ssl.create_default_context(cafile=files / ca)
    if tls12:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    inner = httpx.HTTPTransport(verify=context)
    transport = ExplainingTransport(inner, role="server", identity=identity)
    return httpx.Client(transport=transport, timeout=TIMEOUT), identity


def server(files: Path, stem: str = "server", *, client_ca: bool = True) -> ssl.SSLContext:
    ca = files / "root.pem" if client_ca else None
    return server_context(files / f"{stem}.pem", files / f"{stem}.key", client_ca=ca)


def test_working_handshake_passes_the_response_through(files: Path) -> None:
    http, _ = client(files, "client")
    with serve_once(server(files)) as shot, http:
        assert http.get(shot.url).text == "ok"


def test_server_certificate_from_another_ca_names_the_fix(files: Path) -> None:
    http, _ = client(files, "client", ca="foreign-root.pem")
    with serve_once(server(files)) as shot, http, pytest.raises(ServerNotTrustedError) as info:
        http.get(shot.url)
    assert info.value.message == (
        "the server's certificate is not trusted (unable to get local issuer certificate): "
        "pass --ca / ca= the CA that issued it"
    )
    assert info.value.request.url == shot.url  # httpx fills it in, as for its own errors


def test_server_certificate_for_another_name_says_so(files: Path) -> None:
    http, _ = client(files, "client")
    with (
        serve_once(server(files, "misnamed")) as shot,
        http,
        pytest.raises(ServerNotTrustedError) as info,
    ):
        http.get(shot.url)
    assert info.value.message.startswith("the server's certificate is not valid for 127.0.0.1")


def test_expired_server_certificate_says_so(files: Path) -> None:
    http, _ = client(files, "client")
    with (
        serve_once(server(files, "stale_server")) as shot,
        http,
        pytest.raises(ServerNotTrustedError) as info,
    ):
        http.get(shot.url)
    assert info.value.message == "the server's certificate has expired (certificate has expired)"


@pytest.mark.parametrize("tls12", [False, True], ids=["tls1.3", "tls1.2"])
def test_alert_against_the_client_certificate_is_a_refusal(files: Path, tls12: bool) -> None:
    http, _ = client(files, "foreign_client", tls12=tls12)
    with serve_once(server(files)) as shot, http, pytest.raises(HandshakeRefusedError) as info:
        http.get(shot.url)
    assert info.value.message == (
        "the server did not accept the client certificate during the TLS handshake "
        "(untrusted issuer, expired, or not registered as self-signed)"
    )


def test_refusal_of_an_expired_client_certificate_mentions_the_date(files: Path, pki) -> None:
    http, _ = client(files, "expired")
    with serve_once(server(files)) as shot, http, pytest.raises(HandshakeRefusedError) as info:
        http.get(shot.url)
    expired = pki.expired.cert.not_valid_after_utc
    assert info.value.message.endswith(f"; this certificate expired on {expired:%Y-%m-%d}")


def test_server_requiring_a_certificate_from_a_client_without_one(files: Path) -> None:
    http, _ = client(files, None)
    with serve_once(server(files)) as shot, http, pytest.raises(HandshakeRefusedError) as info:
        http.get(shot.url)
    assert info.value.message == "the server requires a client certificate: pass one"


def test_hang_up_before_any_response_is_a_refusal_only_with_a_certificate(files: Path) -> None:
    with_cert, _ = client(files, "client")
    with (
        serve_once(server(files), respond=False) as shot,
        with_cert,
        pytest.raises(HandshakeRefusedError),
    ):
        with_cert.get(shot.url)
    without, _ = client(files, None)
    with (
        serve_once(server(files, client_ca=False), respond=False) as shot,
        without,
        pytest.raises(httpx.RemoteProtocolError) as info,
    ):
        without.get(shot.url)
    assert not isinstance(info.value, HandshakeRefusedError)


def test_reset_during_the_handshake_is_a_refusal_with_a_certificate(files: Path) -> None:
    """A server (or the proxy in front) that resets the connection on the ClientHello."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TIMEOUT)

        def reset_once() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

        thread = threading.Thread(target=reset_once)
        thread.start()
        http, _ = client(files, "client")
        with http, pytest.raises(HandshakeRefusedError) as info:
            http.get(f"https://127.0.0.1:{listener.getsockname()[1]}/")
        thread.join(TIMEOUT)
    assert "Connection reset" in str(info.value.__cause__)


def test_other_connection_failures_stay_httpx_errors(files: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    http, _ = client(files, "client")
    with http, pytest.raises(httpx.ConnectError) as info:
        http.get(f"https://127.0.0.1:{port}/")
    assert not isinstance(info.value, HandshakeRefusedError | ServerNotTrustedError)


async def test_async_transport_passes_responses_and_explains_failures(files: Path) -> None:
    identity = load_client_identity(files / "client.pem", files / "client.key")
    for ca, failure in (("root.pem", None), ("foreign-root.pem", ServerNotTrustedError)):
        inner = httpx.AsyncHTTPTransport(verify=identity.ssl_context(files / ca))
        transport = AsyncExplainingTransport(inner, role="server", identity=identity)
        async with httpx.AsyncClient(transport=transport, timeout=TIMEOUT) as http:
            with serve_once(server(files)) as shot:
                if failure is None:
                    assert (await http.get(shot.url)).text == "ok"
                    continue
                with pytest.raises(failure):
                    await http.get(shot.url)
