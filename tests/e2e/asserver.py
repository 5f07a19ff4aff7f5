"""Run the real authorization server (Runtime + both TLS listeners) in a background thread.

Used by the end-to-end tests: real sockets on 127.0.0.1, real handshakes, a real SQLite file.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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
