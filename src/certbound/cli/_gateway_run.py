"""What `certbound gateway` does once its flags are read: build the gateway and serve it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from certbound.cli._common import EXIT_USAGE, CliError, console

if TYPE_CHECKING:
    from certbound.cli._resource_server import ServerFiles
    from certbound.resource import TokenVerifier

__all__ = ["DEFAULT_PORT", "GatewayOptions", "run_gateway"]

DEFAULT_PORT = 9444


@dataclass(frozen=True, slots=True)
class GatewayOptions:
    """The flags, once read (flags > ``CERTBOUND_GATEWAY__*`` environment > defaults)."""

    upstream: str
    issuer: str
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    audience: str | None = None
    scopes: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    tls: bool = True
    require_client_cert: bool = False
    introspection: bool = False
    client_id: str | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    timeout: float = 30.0
    upstream_ca: Path | None = None

    def __post_init__(self) -> None:
        if not self.tls and not self.trusted_proxies:
            raise CliError(
                "--no-tls needs --trusted-proxy: without TLS the client certificate can only "
                "come from a proxy's header",
                EXIT_USAGE,
            )
        if self.introspection and not (self.client_id and self.client_cert and self.client_key):
            raise CliError(
                "--introspection needs --client-id, --client-cert and --client-key (the "
                "gateway authenticates to the introspection endpoint with mutual TLS)",
                EXIT_USAGE,
            )
        if self.timeout <= 0:
            raise CliError("--timeout must be positive", EXIT_USAGE)


def _verifier(options: GatewayOptions, ca: Path | None) -> TokenVerifier:
    from certbound.cli._resource_server import jwt_verifier

    if not options.introspection:
        return jwt_verifier(options.issuer, audience=options.audience, ca=ca)
    from certbound.resource import IntrospectionVerifier

    client_id, cert, key = options.client_id, options.client_cert, options.client_key
    if not client_id or cert is None or key is None:  # pragma: no cover - see __post_init__
        raise CliError("--introspection needs --client-id, --client-cert and --client-key")
    try:
        return IntrospectionVerifier(
            options.issuer,
            client_id=client_id,
            verify=ca if ca is not None else True,
            client_cert=(cert, key),
            audience=options.audience or options.issuer,
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise CliError(f"introspection client: {exc}", EXIT_USAGE) from None


def _banner(options: GatewayOptions, url: str, files: ServerFiles | None) -> None:
    mode = "introspection (RFC 7662)" if options.introspection else "JWT (RFC 9068)"
    console.print(f"[bold]certbound gateway[/] — {url} → {options.upstream}")
    console.print(f"  issuer      {options.issuer}  ({mode})")
    console.print(f"  audience    {options.audience or options.issuer}")
    console.print(f"  scopes      {' '.join(options.scopes) or '(none required)'}")
    if files is not None:
        console.print(f"  TLS trust   {files.trust_anchors}")
    if options.trusted_proxies:
        console.print(f"  proxies     {' '.join(options.trusted_proxies)} (certificate headers)")


def run_gateway(
    options: GatewayOptions,
    data_dir: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    trust_anchors: Path | None,
    ca: Path | None,
    json_logs: bool,
) -> None:
    """Check the rest of the input, build :class:`~certbound.resource.gateway.Gateway`, serve it."""
    from certbound.cli._resource_server import (
        bind,
        https_url,
        run_listener,
        server_context,
        server_files,
        trusted_proxies,
    )
    from certbound.ops.audit import configure_logging
    from certbound.resource.gateway import Gateway, GatewayConfig

    try:
        config = GatewayConfig(
            options.upstream,
            required_scopes=options.scopes,
            trusted_proxies=trusted_proxies(list(options.trusted_proxies)),
            timeout=options.timeout,
            upstream_ca=options.upstream_ca,
        )
    except ValueError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    files = server_files(data_dir, tls_cert, tls_key, trust_anchors, ca) if options.tls else None
    context = None
    if files is not None:
        context = server_context(files, require_client_cert=options.require_client_cert)
    verifier = _verifier(options, files.as_ca if files is not None else ca)
    try:
        app = Gateway(config, verifier)
    except OSError as exc:  # ssl.SSLError is an OSError
        raise CliError(f"--upstream-ca: {exc}", EXIT_USAGE) from None
    sock = bind(options.host, options.port)
    configure_logging(json_logs=json_logs)  # after the last check: a failure leaves it alone
    url = https_url(options.host, sock.getsockname()[1], "https" if options.tls else "http")
    _banner(options, url, files)
    run_listener(app, sock, context)
