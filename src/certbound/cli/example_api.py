"""`certbound example-api`: a small protected API to try certificate-bound tokens against.

The app is :func:`certbound.examples.create_example_api` (routes with different scopes) on
certbound's own TLS listener, which requests a client certificate and hands it to the app
through the ASGI TLS extension. With no TLS flags it runs on the development files of
``certbound serve`` (same data directory) and trusts the AS at ``https://localhost:8443``, so::

    certbound serve &
    certbound example-api
    certbound call https://127.0.0.1:9443/accounts --issuer https://localhost:8443 ...

works out of the box.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from certbound.cli._common import console
from certbound.cli._options import DataDirOpt, TlsCertOpt, TlsKeyOpt, TrustedProxyOpt

__all__ = ["DEFAULT_ISSUER", "DEFAULT_PORT", "example_api"]

DEFAULT_ISSUER = "https://localhost:8443"
DEFAULT_PORT = 9443


def _banner(url: str, issuer: str, audience: str, trust: Path, dev: bool, data: Path) -> None:
    console.print(f"[bold]certbound example API[/] — {url}  (client certificate requested)")
    console.print(f"  issuer      {issuer}  (keys from its jwks_uri)")
    console.print(f"  audience    {audience}")
    console.print(f"  TLS trust   {trust}  (the token's binding is the check, RFC 8705 §3)")
    console.print(
        "  routes      GET /hello (any scope) · GET /accounts (read) · POST /payments (write)"
        " · GET /whoami · GET /health (public)"
    )
    if dev:
        q = shlex.quote
        console.print("\n[bold]Try it[/] with the demo client of `certbound serve`:")
        console.print(
            f"  certbound call {url}/accounts --issuer {issuer} --client-id demo-client \\\n"
            f"      --cert {q(str(data / 'demo/demo-client.pem'))} "
            f"--key {q(str(data / 'demo/demo-client.key'))} --ca {q(str(trust))}"
        )


def example_api(
    issuer: Annotated[
        str, typer.Option("--issuer", help="Issuer URL of the authorization server.")
    ] = DEFAULT_ISSUER,
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            help="CA of the AS's server certificate (default: the development CA without "
            "--tls-cert, else the system CAs).",
            show_default=False,
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option(
            "--audience", help="Expected 'aud' (default: the issuer).", show_default=False
        ),
    ] = None,
    tls_cert: TlsCertOpt = None,
    tls_key: TlsKeyOpt = None,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchors",
            help="PEM bundle the TLS layer accepts client certificates from (CAs, and the "
            "certificates of self-signed clients).",
            show_default=False,
        ),
    ] = None,
    require_client_cert: Annotated[
        bool,
        typer.Option(
            "--require-client-cert", help="Refuse handshakes without a client certificate."
        ),
    ] = False,
    trusted_proxy: TrustedProxyOpt = None,
    data_dir: DataDirOpt = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
) -> None:
    """Run a small protected API (certificate-bound tokens, per-route scopes)."""
    from certbound.cli._resource_server import (
        bind,
        https_url,
        jwt_verifier,
        run_listener,
        server_context,
        server_files,
        trusted_proxies,
    )
    from certbound.config.settings import default_data_dir
    from certbound.examples import create_example_api
    from certbound.ops.audit import configure_logging

    files = server_files(data_dir, tls_cert, tls_key, trust_anchors, ca)
    proxies = trusted_proxies(trusted_proxy)
    context = server_context(files, require_client_cert=require_client_cert)
    verifier = jwt_verifier(issuer, audience=audience, ca=files.as_ca)
    app = create_example_api(verifier, trusted_proxies=proxies)
    sock = bind(host, port)
    configure_logging(json_logs=json_logs)  # after the last check: a failure leaves it alone
    url = https_url(host, sock.getsockname()[1])
    data = data_dir or default_data_dir()
    _banner(url, issuer, audience or issuer, files.trust_anchors, files.development, data)
    run_listener(app, sock, context)
