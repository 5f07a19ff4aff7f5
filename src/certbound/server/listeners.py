"""Several TLS listeners (issuer + mTLS alias, RFC 8705 §5) in one process and one event loop.

Each listener is a ``uvicorn.Server`` with certbound's context and the TLS-extension protocol. They
share one app lifespan (run once, state shared) and stop together on SIGINT/SIGTERM (a second
SIGINT forces). Sockets are bound here (or passed in pre-bound) so that a multi-process runner can
bind once and hand the same sockets to each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
import socket
import ssl
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, Literal

import uvicorn

from certbound.server._tlsproto import BufferedTlsHttpToolsProtocol, TlsH11Protocol
from certbound.server.tls import switching_context

__all__ = ["ListenerGroup", "ListenerSpec", "bind_socket", "run_listeners", "serve_listeners"]

logger = logging.getLogger("certbound.tls")

HttpImpl = Literal["auto", "httptools", "h11"]
LoopImpl = Literal["auto", "asyncio", "uvloop"]


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One listener. ``context`` is a fixed context, or a callable returning the current one
    (e.g. :class:`~certbound.server.tls.DynamicServerContext`), switched per handshake."""

    host: str
    port: int
    context: ssl.SSLContext | Callable[[], ssl.SSLContext]
    name: str
    sock: socket.socket | None = None  # pre-bound (multi-process); host/port then informative


def bind_socket(
    host: str, port: int, *, backlog: int = 2048, reuse_port: bool = False
) -> socket.socket:
    """Bind and listen at once (connections queue until served); IPv6 if ``host`` has ':'.

    ``reuse_port`` sets ``SO_REUSEPORT`` (Linux, BSD): several sockets of this user on one port,
    the kernel spreading connections over them (one per worker process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _bind_all(specs: Sequence[ListenerSpec]) -> list[socket.socket]:
    with contextlib.ExitStack() as on_error:
        bound = [on_error.enter_context(s.sock or bind_socket(s.host, s.port)) for s in specs]
        on_error.pop_all()
    return bound


class _SharedLifespan:
    """One app lifespan for all listeners: the first startup runs it, the last shutdown ends it."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._users = 0
        self._startup: asyncio.Future[None] | None = None

    @property
    def should_exit(self) -> bool:
        return bool(self._inner.should_exit)

    @property
    def state(self) -> Any:
        return self._inner.state

    async def startup(self) -> None:
        self._users += 1
        if self._startup is None:
            self._startup = asyncio.ensure_future(self._inner.startup())
        await asyncio.shield(self._startup)

    async def shutdown(self) -> None:
        self._users -= 1
        if self._users == 0:
            await self._inner.shutdown()


class _ListenerServer(uvicorn.Server):
    """A uvicorn server whose signals are handled by the group, not by itself."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._on_started()


def _http_protocol(http: HttpImpl) -> type[asyncio.BaseProtocol]:
    if http == "h11" or (http == "auto" and importlib.util.find_spec("httptools") is None):
        return TlsH11Protocol
    return BufferedTlsHttpToolsProtocol


class ListenerGroup:
    """Run ``app`` on several TLS listeners; :meth:`request_stop` (any thread) stops them all."""

    def __init__(
        self,
        app: Any,
        listeners: Sequence[ListenerSpec],
        *,
        http: HttpImpl = "auto",
        lifespan: Literal["auto", "on", "off"] = "auto",
        timeout_keep_alive: int = 5,
        timeout_graceful_shutdown: int | None = 10,
    ) -> None:
        if not listeners:
            raise ValueError("at least one listener is needed")
        names = [spec.name for spec in listeners]
        if len(set(names)) != len(names):
            raise ValueError(f"listener names must be unique: {names}")
        self._app, self._specs = app, tuple(listeners)
        self._options: dict[str, Any] = {
            "http": _http_protocol(http),
            "lifespan": lifespan,
            "timeout_keep_alive": timeout_keep_alive,
            "timeout_graceful_shutdown": timeout_graceful_shutdown,
            # No per-request access line (the audit log records outcomes); with it on, uvicorn
            # formats the client address and quoted path of every request even when filtered.
            "access_log": False,
        }
        self._sockets = _bind_all(self._specs)
        self._servers: list[_ListenerServer] = []
        self._started = threading.Event()
        self._stop_requested = False

    @property
    def addresses(self) -> dict[str, tuple[str, int]]:
        """Listener name -> bound (host, port)."""
        return {
            s.name: sock.getsockname()[:2]
            for s, sock in zip(self._specs, self._sockets, strict=True)
        }

    def wait_started(self, timeout: float) -> bool:
        """Block until every listener accepts connections (or ``timeout`` seconds pass)."""
        return self._started.wait(timeout)

    def request_stop(self, *, force: bool = False) -> None:
        """Graceful stop of every listener; safe from any thread and from a signal handler."""
        self._stop_requested = True
        for server in self._servers:
            server.should_exit = True
            server.force_exit = server.force_exit or force

    def _config(self, spec: ListenerSpec) -> uvicorn.Config:
        context = spec.context
        listener_ctx = (
            context if isinstance(context, ssl.SSLContext) else switching_context(context)
        )
        return uvicorn.Config(
            self._app,
            host=spec.host,
            port=spec.port,
            ssl_context_factory=lambda _config, _default: listener_ctx,
            ws="none",
            proxy_headers=False,  # certbound reads proxy headers itself, from trusted peers only
            server_header=False,
            log_config=None,
            **self._options,
        )

    def _server_started(self) -> None:
        if all(server.started for server in self._servers):
            self._started.set()
            logger.info("listeners started", extra={"listeners": self.addresses})

    async def serve(self) -> None:
        """Serve until stopped; then close every listener gracefully. Closes the sockets."""
        try:
            self._servers = self._make_servers()
            if self._stop_requested:
                self.request_stop()
            with self._signals():
                tasks = [
                    asyncio.ensure_future(server.serve(sockets=[sock]))
                    for server, sock in zip(self._servers, self._sockets, strict=True)
                ]
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                self.request_stop()  # one listener ended (stop, error): end them all
                await asyncio.gather(*tasks)
        finally:
            for sock in self._sockets:
                sock.close()

    def _make_servers(self) -> list[_ListenerServer]:
        configs = [self._config(spec) for spec in self._specs]
        for config in configs:
            config.load()
        shared = _SharedLifespan(configs[0].lifespan_class(configs[0]))
        for config in configs:
            config.lifespan_class = lambda _config: shared
        return [_ListenerServer(config, self._server_started) for config in configs]

    def run(self, loop: LoopImpl = "auto") -> None:
        """Run :meth:`serve` on a new event loop (uvloop when available, unless ``asyncio``)."""
        factory = None
        if loop == "uvloop" or (loop == "auto" and importlib.util.find_spec("uvloop")):
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self.serve())

    @contextlib.contextmanager
    def _signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        sigs = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self._on_signal) for sig in sigs}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self.request_stop(force=self._stop_requested and sig == signal.SIGINT)


async def serve_listeners(app: Any, listeners: list[ListenerSpec], **options: Any) -> None:
    """Serve ``app`` on every listener in the running loop until SIGINT/SIGTERM or one ends."""
    await ListenerGroup(app, listeners, **options).serve()


def run_listeners(
    app: Any, listeners: list[ListenerSpec], *, loop: LoopImpl = "auto", **options: Any
) -> None:
    """Blocking form of :func:`serve_listeners` on a fresh loop (uvloop when available)."""
    ListenerGroup(app, listeners, **options).run(loop)
