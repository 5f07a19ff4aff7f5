"""Several worker processes serving the same listeners (``certbound serve --workers N``).

The parent binds every listening socket before any worker starts, so a port that cannot be bound
fails at once and port 0 resolves to one port shared by all workers. On Linux each worker gets
its own socket per listener, bound with ``SO_REUSEPORT``: the kernel spreads new connections over
the workers evenly (with one shared socket, the first worker awake takes most of them). Elsewhere
the workers share one socket per listener.

Workers are forked: each builds its own runtime (database engine, keys, TLS contexts, event loop)
from the same settings. Just before forking, the parent's heap is moved to the collector's
permanent generation (``gc.freeze``, as CPython's documentation advises for forking servers): a
worker's collector then never writes to the objects it inherited, so the pages holding the
imported modules stay shared between the workers instead of being copied into each (measured:
35 MiB PSS per worker after a full collection, 49 MiB without the freeze).

The parent only supervises: SIGTERM or SIGINT is passed on to every worker (each stops
gracefully, see :class:`~certbound.server.listeners.ListenerGroup`); if a worker exits on its
own, the others are stopped too and the exit status tells the failure.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from types import FrameType

from certbound.server.listeners import bind_socket

__all__ = ["WorkerPool", "bind_worker_sockets"]

log = logging.getLogger("certbound.server")

WorkerTarget = Callable[[int, list[socket.socket]], None]


def bind_worker_sockets(
    addresses: Sequence[tuple[str, int]], workers: int
) -> list[list[socket.socket]]:
    """For each worker, one bound and listening socket per address (see the module docstring).

    Raises ``OSError`` (after closing what was bound) when an address cannot be bound.
    """
    if workers < 1:
        raise ValueError("at least one worker is needed")
    reuse_port = workers > 1 and hasattr(socket, "SO_REUSEPORT")
    per_address: list[list[socket.socket]] = []
    with contextlib.ExitStack() as on_error:
        for host, port in addresses:
            first = on_error.enter_context(bind_socket(host, port, reuse_port=reuse_port))
            bound_port = first.getsockname()[1]
            group = [first]
            for _ in range(workers - 1):
                extra = bind_socket(host, bound_port, reuse_port=True) if reuse_port else first
                group.append(on_error.enter_context(extra) if extra is not first else first)
            per_address.append(group)
        on_error.pop_all()
    return [[group[i] for group in per_address] for i in range(workers)]


class WorkerPool:
    """Run ``target(index, sockets)`` in one forked process per socket list; supervise them."""

    def __init__(
        self,
        target: WorkerTarget,
        sockets: Sequence[list[socket.socket]],
        *,
        stop_timeout: float = 15.0,
    ) -> None:
        if not sockets:
            raise ValueError("at least one worker is needed")
        self._target, self._sockets, self._stop_timeout = target, list(sockets), stop_timeout
        self._processes: list[multiprocessing.process.BaseProcess] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._processes if p.pid is not None]

    def run(self) -> int:
        """Start every worker and wait for all of them; 0 when stopped by a signal, else 1."""
        context = multiprocessing.get_context("fork")
        original = {sig: signal.signal(sig, self._on_signal) for sig in _STOP_SIGNALS}
        gc.collect()
        gc.freeze()  # see the module docstring: keep the inherited pages shared
        try:
            for index, sockets in enumerate(self._sockets):
                others = [
                    sock
                    for own in self._sockets
                    if own is not sockets
                    for sock in own
                    if all(sock is not mine for mine in sockets)
                ]
                process = context.Process(
                    target=_child,
                    args=(self._target, index, sockets, others),
                    name=f"worker-{index}",
                )
                process.start()
                self._processes.append(process)
            self._close_parent_sockets()
            return self._supervise()
        finally:
            self.stop()
            for sig, handler in original.items():
                signal.signal(sig, handler)

    def stop(self) -> None:
        """Ask every live worker to stop (SIGTERM), wait for them, kill what is left."""
        self._stopping = True
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self._processes:
            process.join(self._stop_timeout)
            if process.is_alive():
                log.warning("worker %s did not stop; killing it", process.pid)
                process.kill()
                process.join()

    def _supervise(self) -> int:
        pending = {p.sentinel: p for p in self._processes}
        while pending:
            for sentinel in wait(list(pending)):
                process = pending.pop(sentinel)  # type: ignore[arg-type]
                if not self._stopping:
                    log.error("worker %s exited with status %s", process.pid, process.exitcode)
                    self.stop()
                    return 1
        return 0

    def _close_parent_sockets(self) -> None:
        """The workers hold the sockets now; a dead worker's socket must close with it."""
        for sockets in self._sockets:
            for sock in sockets:
                sock.close()

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        self._stopping = True
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _child(
    target: WorkerTarget, index: int, sockets: list[socket.socket], others: list[socket.socket]
) -> None:
    """The worker process: its own signal handling, only its own sockets, then ``target``."""
    for sig in _STOP_SIGNALS:  # the parent's forwarding handler is not this process's
        signal.signal(sig, signal.SIG_DFL if sig == signal.SIGTERM else signal.default_int_handler)
    for sock in others:  # inherited from the parent: another worker's socket must die with it
        sock.close()
    target(index, sockets)
