"""Shared by the Python bench targets: serve an ASGI app on certbound's own TLS listener with the
bench PKI (server certificate, client certificates required and chained to the bench root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def serve_on_bench_tls(app: Any, host: str, port: int, pki: Path, name: str) -> None:
    """Run ``app`` in the foreground on ``host:port`` until SIGTERM (127.0.0.1 only)."""
    if host != "127.0.0.1":
        raise SystemExit("the bench binds 127.0.0.1 only")
    from certbound.server.listeners import ListenerGroup, ListenerSpec
    from certbound.server.tls import TrustMaterial, build_server_context

    pki = pki.resolve()
    context = build_server_context(
        pki / "server-chain.pem",
        pki / "server.key",
        trust=TrustMaterial.from_pem_file(pki / "client-trust.pem"),
        require_client_cert=True,
    )
    ListenerGroup(app, [ListenerSpec(host, port, context, name)], lifespan="on").run()
