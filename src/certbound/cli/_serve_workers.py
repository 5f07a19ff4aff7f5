"""`certbound serve --workers N`: N forked worker processes on listeners bound once, here.

The parent validates everything that can fail (trust anchors, keys, TLS files, the database) and
binds the listening sockets before any worker starts, then supervises the workers
(:class:`~certbound.server.workers.WorkerPool`). Each worker builds its own runtime (database
engine, keys, TLS contexts, event loop) from the same settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING

from certbound.cli._common import EXIT_USAGE, CliError
from certbound.cli.serve import _banner, _context
from certbound.config.settings import ConfigError, Settings
from certbound.core.clients import Client

if TYPE_CHECKING:
    from certbound.config.runtime import TlsFiles
    from certbound.server.bootstrap import DevEnvironment

__all__ = ["serve_workers"]


def serve_workers(
    settings: Settings, files: TlsFiles, env: DevEnvironment | None, demo: tuple[Client, ...]
) -> None:
    """``--workers N``: validate and bind here, then serve from N forked worker processes."""
    from certbound.config.runtime import Runtime
    from certbound.core.ports import StorageError
    from certbound.server.listeners import ListenerGroup, ListenerSpec
    from certbound.server.workers import WorkerPool, bind_worker_sockets

    server = settings.server
    try:
        runtime = Runtime.prepare(settings, files)  # creates the signing key once, here
        for require in (False, True):
            _context(runtime, files, require=require)
        # once, before any worker serves: no N workers racing on a new database, and no worker
        # answering for the demo client before it is registered
        asyncio.run(_prepare_database(settings.database_url, demo))
        sockets = bind_worker_sockets(
            [(server.host, server.port), (server.host, server.mtls_port)], server.workers
        )
    except ConfigError as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except StorageError as exc:
        raise CliError(f"database: {exc}", 1) from None
    except OSError as exc:
        raise CliError(f"cannot listen: {exc.strerror or exc}", 1) from None

    def worker(index: int, bound: list[socket.socket]) -> None:
        runtime = Runtime.prepare(settings, files)
        issuer, mtls = bound
        specs = [
            ListenerSpec(
                server.host,
                server.port,
                _context(runtime, files, require=False),
                "issuer",
                sock=issuer,
            ),
            ListenerSpec(
                server.host,
                server.mtls_port,
                _context(runtime, files, require=True),
                "mtls",
                sock=mtls,
            ),
        ]
        ListenerGroup(runtime.app(), specs).run()

    _banner(settings, files, env)
    logging.getLogger("certbound.server").info("starting %d workers", server.workers)
    if WorkerPool(worker, sockets).run() != 0:
        raise CliError("a worker process failed; all workers were stopped", 1)


async def _prepare_database(database_url: str, register: tuple[Client, ...]) -> None:
    """Migrate to head and register ``register`` (kept if already there), as Runtime.start does."""
    from certbound.core.ports import ConflictError
    from certbound.storage.sql import open_store

    stores = await open_store(database_url)
    try:
        for client in register:
            with contextlib.suppress(ConflictError):
                await stores.clients.add(client)
    finally:
        await stores.close()
