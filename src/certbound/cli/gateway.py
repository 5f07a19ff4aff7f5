"""`certbound gateway`: put certificate-bound token checks in front of any HTTP service.

The gateway terminates mutual TLS itself (certbound's TLS listener; the ASGI TLS extension
carries the client certificate) or, with ``--no-tls``, listens on plain HTTP behind a proxy
that terminated TLS and passes the certificate in a header (``--trusted-proxy`` names it).
It checks the token as ``certbound.resource`` does (RFC 9068 + RFC 8705 §3, or RFC 7662
introspection with ``--introspection``), strips forged identity headers and forwards the
request to ``--upstream`` with ``X-Certbound-Client-Id``, ``-Subject``, ``-Scope`` and
``-Cnf-X5t-S256`` (see :mod:`certbound.resource.gateway`).

Every flag can also be set in the environment as ``CERTBOUND_GATEWAY__<FLAG>`` (e.g.
``CERTBOUND_GATEWAY__UPSTREAM``); repeatable flags take space-separated values there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from certbound.cli._gateway_run import DEFAULT_PORT, GatewayOptions
from certbound.cli._options import DataDirOpt

__all__ = ["ENV_PREFIX", "gateway"]

ENV_PREFIX = "CERTBOUND_GATEWAY__"


def _env(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def _split(values: list[str] | None) -> tuple[str, ...]:
    return tuple(item for value in values or () for item in value.split())


def gateway(
    upstream: Annotated[
        str,
        typer.Option("--upstream", envvar=_env("upstream"), help="Base URL of the service."),
    ],
    issuer: Annotated[
        str, typer.Option("--issuer", envvar=_env("issuer"), help="Issuer URL of the AS.")
    ],
    port: Annotated[
        int, typer.Option("--port", envvar=_env("port"), help="Port to listen on.")
    ] = DEFAULT_PORT,
    host: Annotated[
        str, typer.Option("--host", envvar=_env("host"), help="Address to bind.")
    ] = "127.0.0.1",
    tls_cert: Annotated[
        Path | None,
        typer.Option("--tls-cert", envvar=_env("tls_cert"), help="Server certificate chain."),
    ] = None,
    tls_key: Annotated[
        Path | None, typer.Option("--tls-key", envvar=_env("tls_key"), help="Server key.")
    ] = None,
    trust_anchors: Annotated[
        Path | None,
        typer.Option(
            "--trust-anchors",
            envvar=_env("trust_anchors"),
            help="PEM bundle the TLS layer accepts client certificates from (CAs, and the "
            "certificates of self-signed clients).",
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            envvar=_env("ca"),
            help="CA of the AS's server certificate (default: the development CA with the "
            "development TLS files, else the system CAs).",
        ),
    ] = None,
    audience: Annotated[
        str | None,
        typer.Option("--audience", envvar=_env("audience"), help="Expected 'aud' (the issuer)."),
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", envvar=_env("scope"), help="Scope every request needs (repeatable)."
        ),
    ] = None,
    trusted_proxy: Annotated[
        list[str] | None,
        typer.Option(
            "--trusted-proxy",
            envvar=_env("trusted_proxy"),
            help="CIDR of a proxy whose certificate headers are believed (repeatable).",
        ),
    ] = None,
    no_tls: Annotated[
        bool,
        typer.Option(
            "--no-tls",
            envvar=_env("no_tls"),
            help="Plain HTTP behind a TLS-terminating proxy (needs --trusted-proxy).",
        ),
    ] = False,
    require_client_cert: Annotated[
        bool,
        typer.Option(
            "--require-client-cert",
            envvar=_env("require_client_cert"),
            help="Refuse handshakes without a client certificate (default: answer 401).",
        ),
    ] = False,
    introspection: Annotated[
        bool,
        typer.Option(
            "--introspection",
            envvar=_env("introspection"),
            help="Ask the AS (RFC 7662) instead of verifying JWTs locally.",
        ),
    ] = False,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", envvar=_env("client_id"), help="For introspection."),
    ] = None,
    client_cert: Annotated[
        Path | None,
        typer.Option("--client-cert", envvar=_env("client_cert"), help="For introspection."),
    ] = None,
    client_key: Annotated[
        Path | None,
        typer.Option("--client-key", envvar=_env("client_key"), help="For introspection."),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            envvar=_env("timeout"),
            help="Seconds to wait for the upstream (504 after).",
        ),
    ] = 30.0,
    upstream_ca: Annotated[
        Path | None,
        typer.Option("--upstream-ca", envvar=_env("upstream_ca"), help="CA of an https upstream."),
    ] = None,
    data_dir: DataDirOpt = None,
    json_logs: Annotated[bool, typer.Option("--json-logs", help="Log JSON lines.")] = False,
) -> None:
    """Reverse proxy enforcing certificate-bound tokens in front of an upstream service."""
    options = GatewayOptions(
        upstream=upstream,
        issuer=issuer,
        host=host,
        port=port,
        audience=audience,
        scopes=_split(scope),
        trusted_proxies=_split(trusted_proxy),
        tls=not no_tls,
        require_client_cert=require_client_cert,
        introspection=introspection,
        client_id=client_id,
        client_cert=client_cert,
        client_key=client_key,
        timeout=timeout,
        upstream_ca=upstream_ca,
    )
    from certbound.cli._gateway_run import run_gateway

    run_gateway(options, data_dir, tls_cert, tls_key, trust_anchors, ca, json_logs)
