"""The ASGI TLS extension computed from real TLS objects, and handshake-failure logging."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from certbound.server._tlsproto import (
    AuditedSSLObject,
    ConnectionTls,
    connection_tls,
    peer_chain_pem,
)
from certbound.server.tls import TrustMaterial, build_server_context


@pytest.fixture(scope="module")
def files(pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tls-proto")
    out: dict[str, Path] = {}
    for stem in ("server", "client", "foreign_client"):
        out[f"{stem}.pem"], out[f"{stem}.key"] = getattr(pki, stem).write(d, stem)
    (d / "root.pem").write_bytes(pki.root.pem)
    out["root.pem"] = d / "root.pem"
    return out


def server_ctx(files: dict[str, Path], pki: Any, *, required: bool = False) -> ssl.SSLContext:
    return build_server_context(
        files["server.pem"],
        files["server.key"],
        trust=TrustMaterial((pki.root.cert,)),
        require_client_cert=required,
    )


def client_ctx(files: dict[str, Path], stem: str | None, *, tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=files["root.pem"])
    if stem is not None:
        ctx.load_cert_chain(files[f"{stem}.pem"], files[f"{stem}.key"])
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def handshake(server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext) -> ssl.SSLObject:
    """A completed in-memory handshake; returns the server side. Raises the server's error."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname="localhost")
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    done = {client: False, server: False}
    for _ in range(10):
        for side, outbox, peer_in in ((client, c_out, s_in), (server, s_out, c_in)):
            if not done[side]:
                try:
                    side.do_handshake()
                    done[side] = True
                except ssl.SSLWantReadError:
                    pass
            peer_in.write(outbox.read())
        if all(done.values()):
            return server
    raise AssertionError("handshake did not finish")


def pem(cert: Any) -> str:
    return str(cert.public_bytes(Encoding.PEM).decode("ascii"))


def test_chain_is_leaf_first_pem_with_the_intermediate(files, pki) -> None:
    server = handshake(server_ctx(files, pki), client_ctx(files, "client"))
    assert peer_chain_pem(server) == tuple(pem(c) for c in pki.client.chain)
    assert len(pki.client.chain) == 2  # leaf + issuing CA, as the client sent it


def test_no_client_certificate_gives_an_empty_chain(files, pki) -> None:
    server = handshake(server_ctx(files, pki), client_ctx(files, None))
    assert peer_chain_pem(server) == ()


class PublicChainOnly:
    """The Python 3.13 shape: a public ``get_unverified_chain()`` returning DER, no ``_sslobj``."""

    def __init__(self, real: ssl.SSLObject, chain: list[bytes]) -> None:
        self._real, self._chain = real, chain

    def getpeercert(self, binary_form: bool) -> bytes | None:
        return self._real.getpeercert(binary_form=True)

    def get_unverified_chain(self) -> list[bytes]:
        return self._chain


class LeafOnly:
    """No chain API at all: only the leaf is reachable."""

    def __init__(self, real: ssl.SSLObject) -> None:
        self._real = real

    def getpeercert(self, binary_form: bool) -> bytes | None:
        return self._real.getpeercert(binary_form=True)


def test_public_chain_api_is_used_when_present(files, pki) -> None:
    server = handshake(server_ctx(files, pki), client_ctx(files, "client"))
    ders = [c.public_bytes(Encoding.DER) for c in pki.client.chain]
    chain = peer_chain_pem(PublicChainOnly(server, ders))  # type: ignore[arg-type]
    assert chain == tuple(pem(c) for c in pki.client.chain)


def test_a_chain_not_starting_with_the_verified_leaf_is_reduced_to_the_leaf(files, pki) -> None:
    server = handshake(server_ctx(files, pki), client_ctx(files, "client"))
    other = [c.public_bytes(Encoding.DER) for c in pki.other_client.chain]
    chain = peer_chain_pem(PublicChainOnly(server, other))  # type: ignore[arg-type]
    assert chain == (pem(pki.client.cert),)


def test_without_any_chain_api_the_leaf_alone_is_returned(files, pki) -> None:
    server = handshake(server_ctx(files, pki), client_ctx(files, "client"))
    assert peer_chain_pem(LeafOnly(server)) == (pem(pki.client.cert),)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("tls12", "version", "suites"),
    [
        (False, 0x0304, {0x1301, 0x1302, 0x1303}),
        (True, 0x0303, {0xC02B, 0xC02C, 0xCCA9}),  # ECDHE-ECDSA AES-GCM / ChaCha20 (RFC 8422)
    ],
    ids=["tls13", "tls12"],
)
async def test_connection_tls_reads_version_suite_and_chain(
    files, pki, tls12: bool, version: int, suites: set[int]
) -> None:
    seen: list[ConnectionTls | None] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(connection_tls(writer.transport))
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=server_ctx(files, pki))
    port = server.sockets[0].getsockname()[1]
    async with server:
        ctx = client_ctx(files, "client", tls12=tls12)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), 5
        )
        await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
    (tls,) = seen
    assert tls is not None
    assert tls.tls_version == version
    assert tls.cipher_suite in suites
    assert tls.client_cert_chain == tuple(pem(c) for c in pki.client.chain)


async def test_plain_tcp_connection_has_no_tls_facts() -> None:
    seen: list[ConnectionTls | None] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(connection_tls(writer.transport))
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.wait_for(reader.read(), 5)
        writer.close()
        await writer.wait_closed()
    assert seen == [None]


def test_extension_is_a_fresh_asgi_dict_per_request() -> None:
    tls = ConnectionTls(client_cert_chain=("LEAF", "CA"), tls_version=0x0304, cipher_suite=0x1301)
    first = tls.extension()
    assert first == {
        "server_cert": None,
        "client_cert_chain": ["LEAF", "CA"],
        "tls_version": 0x0304,
        "cipher_suite": 0x1301,
    }
    first["client_cert_chain"].append("INJECTED")  # type: ignore[attr-defined]
    assert tls.extension()["client_cert_chain"] == ["LEAF", "CA"]


def test_failed_handshake_is_logged_as_a_security_event(
    files, pki, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = server_ctx(files, pki, required=True)
    assert ctx.sslobject_class is AuditedSSLObject
    with (
        caplog.at_level(logging.WARNING, logger="certbound.tls"),
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        handshake(ctx, client_ctx(files, "foreign_client"))
    (record,) = caplog.records
    assert record.event == "tls_handshake_failed"  # type: ignore[attr-defined]
    assert record.reason == "CERTIFICATE_VERIFY_FAILED"  # type: ignore[attr-defined]
    assert record.detail == "unable to get local issuer certificate"  # type: ignore[attr-defined]


def test_successful_handshake_logs_nothing(files, pki, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="certbound.tls"):
        handshake(server_ctx(files, pki, required=True), client_ctx(files, "client"))
    assert caplog.records == []
