"""Keep the TLS trust store in step with registrations (RFC 8705 §2.2 self-signed clients).

Stdlib ``ssl`` has no verify callback: a self-signed client certificate completes the handshake
only if it is in the server context's trust store. This task polls the client store's revision
(cheap: one indexed read) and, when it changes — a client added by the CLI, the admin API or DCR,
in this process or another — rebuilds the set of registered self-signed certificates. Clients
with a ``jwks_uri`` are re-fetched on every sync interval tick that passes their cache lifetime
(the fetcher caches). The app never treats the handshake as authentication: the core re-checks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography import x509

from certbound.core.clients import SELF_SIGNED_TLS_CLIENT_AUTH, Client
from certbound.core.ports import ClientStore, JwksFetcher, JwksFetchError, StorageError
from certbound.server.tls import DynamicTrust, require_self_signed_leaf

__all__ = ["TrustSync", "certificates_in_jwks"]

log = logging.getLogger("certbound.trust")


def certificates_in_jwks(jwks: Mapping[str, Any]) -> list[x509.Certificate]:
    """The first certificate of every key's ``x5c`` (the leaf), skipping malformed entries."""
    out: list[x509.Certificate] = []
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        return out
    for key in keys:
        x5c = key.get("x5c") if isinstance(key, dict) else None
        if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
            continue
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True)))
        except ValueError:
            continue
    return out


def _acceptable(cert: x509.Certificate, client_id: str) -> bool:
    """Only self-signed CA:FALSE leaves may enter the TLS trust store (STACK.md "Trap")."""
    try:
        require_self_signed_leaf(cert)
    except ValueError as exc:
        log.warning(
            "client %s: certificate %s not trusted for TLS: %s",
            client_id,
            cert.subject.rfc4514_string(),
            exc,
        )
        return False
    return True


class TrustSync:
    """Polls ``clients.revision()`` every ``interval`` seconds and updates ``trust``."""

    def __init__(
        self,
        clients: ClientStore,
        trust: DynamicTrust,
        fetcher: JwksFetcher,
        *,
        interval: float = 1.0,
        jwks_uri_interval: float = 300.0,
    ) -> None:
        self._clients = clients
        self._trust = trust
        self._fetcher = fetcher
        self._interval = interval
        self._jwks_uri_interval = jwks_uri_interval
        self._revision: int | None = None
        self._task: asyncio.Task[None] | None = None

    async def sync_once(self, *, force: bool = False) -> bool:
        """Rebuild the registered set if the store changed (or ``force``); True when rebuilt."""
        revision = await self._clients.revision()
        if revision == self._revision and not force:
            return False
        clients = [
            c
            for c in await self._clients.list()
            if c.token_endpoint_auth_method == SELF_SIGNED_TLS_CLIENT_AUTH
        ]
        certs = await self._collect(clients)
        self._trust.replace_all(certs)
        self._revision = revision
        log.info(
            "trust store synced: revision %s, %d registered self-signed certificates",
            revision,
            len(certs),
        )
        return True

    async def _collect(self, clients: Iterable[Client]) -> list[x509.Certificate]:
        certs: list[x509.Certificate] = []
        for client in clients:
            found: list[x509.Certificate] = []
            if client.jwks is not None:
                found = certificates_in_jwks(client.jwks)
            elif client.jwks_uri:
                try:
                    found = certificates_in_jwks(await self._fetcher.fetch(client.jwks_uri))
                except JwksFetchError as exc:
                    log.warning("jwks_uri of client %s not fetched: %s", client.client_id, exc)
            certs += [c for c in found if _acceptable(c, client.client_id)]
        return certs

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        last_full = loop.time()
        while True:
            await asyncio.sleep(self._interval)
            full = loop.time() - last_full >= self._jwks_uri_interval
            try:
                await self.sync_once(force=full)
            except StorageError as exc:
                log.warning("trust store sync failed: %s", exc)
            if full:
                last_full = loop.time()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="certbound-trust-sync"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
