"""What `certbound example-api`, `gateway` and `demo` share: TLS files, verifiers, listeners.

Without ``--tls-cert`` these commands run on the development files that ``certbound serve``
creates in the data directory: ``tls/server.pem`` (+ key) as the server certificate,
``ca/root.pem`` as the trust store of the TLS layer and as the CA of the authorization server's
certificate. They never create those files themselves: a data directory created here would
make a later ``certbound serve`` skip registering its demo client.

The listener *requests* a client certificate (``CERT_OPTIONAL``, or ``CERT_REQUIRED`` on
demand). Stdlib ``ssl`` has no verify callback, so a presented certificate must chain to the
trust bundle or the handshake fails: self-signed clients need their certificate in that bundle.
The TLS layer is not the check: the token's binding to the certificate is (RFC 8705 §3).
"""

from __future__ import annotations

import signal
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from certbound.cli._common import EXIT_USAGE, CliError
from certbound.config.settings import default_data_dir

if TYPE_CHECKING:
    from certbound.certsource import TrustedProxies
    from certbound.resource import TokenVerifier

__all__ = [
    "ServerFiles",
    "background_listeners",
    "bind",
    "https_url",
    "jwt_verifier",
    "run_listener",
    "server_context",
    "server_files",
    "trusted_proxies",
]

START_TIMEOUT = 15.0
ServerContext = ssl.SSLContext | Callable[[], ssl.SSLContext]


@dataclass(frozen=True, slots=True)
class ServerFiles:
    """The listener's certificate and key, its client trust bundle, and the AS's CA."""

    cert: Path
    key: Path
    trust_anchors: Path
    as_ca: Path | None  # None: the system CAs
    development: bool  # True: the data directory's development files


def _require_files(**paths: Path) -> None:
    for what, path in paths.items():
        if not path.is_file():
            raise CliError(f"--{what.replace('_', '-')}: {path} is not a file", EXIT_USAGE)


def server_files(
    data_dir: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    trust_anchors: Path | None,
    ca: Path | None,
) -> ServerFiles:
    """The configured files, or the development files of ``certbound serve`` (see above)."""
    if (tls_cert is None) != (tls_key is None):
        raise CliError("give both --tls-cert and --tls-key, or neither", EXIT_USAGE)
    if tls_cert is None or tls_key is None:
        from certbound.server.bootstrap import DevEnvironment

        env = DevEnvironment(data_dir or default_data_dir(), created=False)
        dev = (env.server_chain, env.server_key, env.trust_anchors)
        if not all(p.is_file() for p in dev):
            raise CliError(
                f"no development certificates in {env.data_dir}: run `certbound serve` once "
                "(it creates them), or give --tls-cert, --tls-key and --trust-anchors",
                EXIT_USAGE,
            )
        anchors, as_ca = trust_anchors or env.trust_anchors, ca or env.trust_anchors
        _require_files(trust_anchors=anchors, ca=as_ca)
        return ServerFiles(env.server_chain, env.server_key, anchors, as_ca, development=True)
    if trust_anchors is None:
        raise CliError(
            "--trust-anchors is required with --tls-cert: the TLS layer accepts only client "
            "certificates that chain to it (add self-signed client certificates to the bundle)",
            EXIT_USAGE,
        )
    _require_files(tls_cert=tls_cert, tls_key=tls_key, trust_anchors=trust_anchors)
    if ca is not None:
        _require_files(ca=ca)
    return ServerFiles(tls_cert, tls_key, trust_anchors, ca, development=False)


def server_context(files: ServerFiles, *, require_client_cert: bool) -> ssl.SSLContext:
    """TLS 1.2+ server context requesting (or requiring) a client certificate."""
    from certbound.server.tls import TrustMaterial, build_server_context

    try:
        trust = TrustMaterial.from_pem_file(files.trust_anchors)
        return build_server_context(
            files.cert, files.key, trust=trust, require_client_cert=require_client_cert
        )
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        raise CliError(f"TLS files: {exc}", EXIT_USAGE) from None


def trusted_proxies(cidrs: list[str] | None) -> TrustedProxies:
    from certbound.certsource import TrustedProxies

    try:
        return TrustedProxies.from_cidrs([c for value in cidrs or () for c in value.split()])
    except ValueError as exc:
        raise CliError(f"--trusted-proxy: {exc}", EXIT_USAGE) from None


def jwt_verifier(issuer: str, *, audience: str | None, ca: Path | None) -> TokenVerifier:
    """RFC 9068 verification with the issuer's JWKS (discovered; cached); ``aud`` defaults to
    the issuer, which is what certbound's AS puts in ``aud`` unless configured otherwise."""
    from certbound.resource import AccessTokenVerifier, RemoteJwks

    try:
        keys = RemoteJwks(issuer, verify=ca if ca is not None else True)
    except ValueError as exc:
        raise CliError(f"--issuer: {exc}", EXIT_USAGE) from None
    except OSError as exc:
        raise CliError(f"--ca: {exc}", EXIT_USAGE) from None
    return AccessTokenVerifier(keys, audience=audience or issuer)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (bound before any banner is printed: a busy port fails first)."""
    from certbound.server.listeners import bind_socket

    try:
        return bind_socket(host, port)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run_listener(app: Any, sock: socket.socket, context: ssl.SSLContext | None) -> None:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM: certbound's TLS listener (the ASGI TLS
    extension carries the client certificate), or plain HTTP (``context`` None: behind a proxy)."""
    if context is None:
        _plain_server(app).run(sockets=[sock])
        return
    from certbound.server.listeners import ListenerGroup, ListenerSpec

    host, port = sock.getsockname()[:2]
    ListenerGroup(app, [ListenerSpec(host, port, context, "api", sock=sock)]).run()


def _plain_server(app: Any) -> Any:
    """A uvicorn server that ends with exit code 0 on SIGINT/SIGTERM, as the TLS listeners do
    (uvicorn itself re-raises the signal once stopped). Proxy headers are certbound's job."""
    import uvicorn

    class PlainServer(uvicorn.Server):
        @contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            sigs = (signal.SIGINT, signal.SIGTERM)
            original = {sig: signal.signal(sig, self.handle_exit) for sig in sigs}
            try:
                yield
            finally:
                for sig, handler in original.items():
                    signal.signal(sig, handler)

    config = uvicorn.Config(
        app, proxy_headers=False, ws="none", server_header=False, log_config=None
    )
    return PlainServer(config)


@contextmanager
def background_listeners(
    app: Any, listeners: Mapping[str, tuple[socket.socket, ServerContext]]
) -> Iterator[None]:
    """Serve ``app`` in a thread on pre-bound sockets (name → (socket, TLS context)) until the
    block ends; then stop gracefully. ``CliError`` when a listener does not start."""
    from certbound.server.listeners import ListenerGroup, ListenerSpec

    specs = [
        ListenerSpec(sock.getsockname()[0], sock.getsockname()[1], context, name, sock=sock)
        for name, (sock, context) in listeners.items()
    ]
    group = ListenerGroup(app, specs, timeout_graceful_shutdown=2)
    thread = threading.Thread(target=group.run, name="certbound-listeners", daemon=True)
    thread.start()
    try:
        if not group.wait_started(START_TIMEOUT):
            raise CliError(f"the listeners {', '.join(listeners)} did not start")
        yield
    finally:
        group.request_stop()
        thread.join(START_TIMEOUT)


def https_url(host: str, port: int, scheme: str = "https") -> str:
    """``scheme://host:port`` with IPv6 literals bracketed."""
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
