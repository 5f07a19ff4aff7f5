"""Run the real authorization server (Runtime + both TLS listeners) in a background thread.

Used by the end-to-end tests: real sockets on 127.0.0.1, real handshakes, a real SQLite file.
:func:`run_proxied_as_server` puts a real nginx or HAProxy in front (docs/deploy): clients then
talk to the proxy, whose URLs are the server's public issuer and mTLS alias URLs.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
from nginx import Proxy, ProxyTls, listening_socket, run_proxy

from certbound.config.runtime import Runtime, TlsFiles
from certbound.config.settings import Settings, load_settings
from certbound.server.listeners import ListenerGroup, ListenerSpec, bind_socket
from certbound.server.tls import DynamicServerContext

TIMEOUT = 5.0


@dataclass
class AsServer:
    settings: Settings
    files: TlsFiles
    runtime: Runtime
    group: ListenerGroup
    ca_file: Path  # what clients trust for the server certificate
    front: str = "tls"  # "tls": clients reach certbound directly; else the proxy's name
    proxy: Proxy | None = None

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    @property
    def mtls(self) -> str:
        return self.settings.mtls_base_url

    def context(self, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if cert is not None:
            ctx.load_cert_chain(cert, key)
        return ctx

    def client(self, cert: Path | None = None, key: Path | None = None) -> httpx.Client:
        return httpx.Client(verify=self.context(cert, key), timeout=TIMEOUT)


@contextmanager
def run_as_server(
    data_dir: Path,
    *,
    server_chain: Path,
    server_key: Path,
    anchors: Path,
    ca_file: Path,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[AsServer]:
    issuer_sock, mtls_sock = bind_socket("127.0.0.1", 0), bind_socket("127.0.0.1", 0)
    issuer_port, mtls_port = issuer_sock.getsockname()[1], mtls_sock.getsockname()[1]
    settings = load_settings(
        None,
        {
            "data_dir": data_dir,
            "server.port": issuer_port,
            "server.mtls_port": mtls_port,
            "server.issuer": f"https://127.0.0.1:{issuer_port}",
            "server.mtls_base_url": f"https://127.0.0.1:{mtls_port}",
            "tls.cert": server_chain,
            "tls.key": server_key,
            "trust.anchors": anchors,
            **(overrides or {}),
        },
    )
    files = TlsFiles(server_chain, server_key, anchors)
    runtime = Runtime.prepare(settings, files)
    contexts = [
        DynamicServerContext(server_chain, server_key, trust=runtime.trust, require_client_cert=req)
        for req in (False, True)
    ]
    group = ListenerGroup(
        runtime.app(),
        [
            ListenerSpec("127.0.0.1", issuer_port, contexts[0], "issuer", sock=issuer_sock),
            ListenerSpec("127.0.0.1", mtls_port, contexts[1], "mtls", sock=mtls_sock),
        ],
        timeout_graceful_shutdown=2,
    )
    thread = threading.Thread(target=group.run, args=("asyncio",), name="as-server")
    thread.start()
    try:
        if not group.wait_started(15):
            raise RuntimeError("the authorization server did not start")
        yield AsServer(settings, files, runtime, group, ca_file)
    finally:
        group.request_stop()
        thread.join(15)
        if thread.is_alive():
            raise RuntimeError("the authorization server did not stop")


@contextmanager
def run_proxied_as_server(
    kind: str,
    data_dir: Path,
    workdir: Path,
    *,
    server_chain: Path,
    server_key: Path,
    anchors: Path,
    intermediates: Path | None,
    ca_file: Path,
    overrides: Mapping[str, Any] | None = None,
) -> Iterator[AsServer]:
    """certbound behind ``kind`` ("nginx", "haproxy") as docs/deploy configures it.

    certbound believes certificate headers from 127.0.0.1 only and completes the leaf-only
    chains the proxy forwards with ``intermediates`` (``trust.intermediates``). The proxy
    presents ``server_chain`` too.
    """
    socks = (listening_socket(), listening_socket())
    issuer, mtls = (f"https://127.0.0.1:{s.getsockname()[1]}" for s in socks)
    settings = {
        "server.issuer": issuer,
        "server.mtls_base_url": mtls,
        "trust.trusted_proxies": ["127.0.0.1/32"],
        "trust.intermediates": intermediates,
        **(overrides or {}),
    }
    try:
        with run_as_server(
            data_dir, server_chain=server_chain, server_key=server_key, anchors=anchors,
            ca_file=ca_file, overrides=settings,
        ) as server:  # fmt: skip
            tls = ProxyTls(server_chain, server_key, anchors, ca_file, "localhost")
            upstream = server.group.addresses["issuer"][1]
            with run_proxy(
                kind, workdir, socks, tls, upstream_port=upstream, ca_file=ca_file
            ) as proxy:
                yield replace(server, front=kind, proxy=proxy)
    finally:
        for sock in socks:
            sock.close()  # no-op once the proxy took them
