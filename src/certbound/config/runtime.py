"""The running authorization server's parts, built from Settings by one function.

``Runtime`` owns what must be opened and closed (database engine, HTTP client for jwks_uri, the
trust-sync task) and the current core Provider. The TLS contexts and the Provider share one trust
decision: the configured anchors and those added through the admin API (plus, for TLS only,
registered self-signed certificates); an admin API change reaches both without a restart.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from starlette.applications import Starlette

from certbound.certsource.nginx import NGINX_HEADER
from certbound.certsource.trusted_proxy import TrustedProxies
from certbound.config._secrets import secret_sha256
from certbound.config.compose import (
    load_intermediates,
    load_trust_store,
    server_policy,
    system_clock,
)
from certbound.config.settings import ConfigError, Settings
from certbound.core.client_auth import CachingClientStore
from certbound.core.clients import Client
from certbound.core.endpoints.registration import RegistrationPolicy
from certbound.core.mtls.verification import ChainVerifier, TrustStore
from certbound.core.ports import ConflictError
from certbound.core.provider import Provider
from certbound.keys.keyset import load_or_create_signing_key
from certbound.keys.reloading import ReloadingKeySet
from certbound.ops.audit import AuditLog
from certbound.server._admin_anchors import EXTRA_ANCHORS_FILE, TrustAnchors
from certbound.server._admin_auth import AdminCredentials
from certbound.server.admin_api import AdminContext, admin_routes, effective_config
from certbound.server.app import create_app
from certbound.server.jwks_fetcher import HttpJwksFetcher
from certbound.server.tls import DynamicTrust
from certbound.server.trust_sync import TrustSync
from certbound.storage.registration_tokens import SqlRegistrationTokenStore
from certbound.storage.sql import SqlStores, open_store

__all__ = ["Runtime", "TlsFiles"]

log = logging.getLogger("certbound.server")


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files the listeners and the verifier use (configured, or the dev defaults)."""

    server_chain: Path
    server_key: Path
    anchors: Path
    key_password: bytes | None = None


@dataclass(slots=True)
class Runtime:
    settings: Settings
    files: TlsFiles
    store: TrustStore
    trust: DynamicTrust
    keys: ReloadingKeySet  # follows `certbound keys rotate` without a restart
    register_on_start: tuple[Client, ...] = ()
    anchors: TrustAnchors | None = None  # configured + admin API anchors
    admin: AdminCredentials = field(default_factory=AdminCredentials)
    registration: RegistrationPolicy = field(default_factory=RegistrationPolicy)
    intermediates: tuple[x509.Certificate, ...] = ()  # trust.intermediates: path building only
    _stores: SqlStores | None = field(default=None, init=False)
    _clients: CachingClientStore | None = field(default=None, init=False)
    _fetcher: HttpJwksFetcher | None = field(default=None, init=False)
    _sync: TrustSync | None = field(default=None, init=False)
    _provider: Provider | None = field(default=None, init=False)

    @classmethod
    def prepare(
        cls, settings: Settings, files: TlsFiles, *, register_on_start: tuple[Client, ...] = ()
    ) -> Runtime:
        """Everything that can fail before binding: trust anchors, signing keys. ConfigError otherwise."""
        store = load_trust_store(files.anchors, settings.trust.crls)
        extra = settings.data_dir / EXTRA_ANCHORS_FILE
        try:
            anchors = TrustAnchors.load(store, extra)
        except ValueError as exc:
            raise ConfigError(f"trust anchors added through the admin API: {exc}") from None
        store = anchors.store()
        keys_dir = settings.data_dir / "keys"
        try:
            load_or_create_signing_key(keys_dir, settings.tokens.signing_alg)
            keys = ReloadingKeySet(keys_dir)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"signing keys in {keys_dir}: {exc}") from None
        if settings.tls.session_tickets and settings.trust.intermediates is None:
            log.warning(
                "tls.session_tickets is on and trust.intermediates is not set: a session resumed "
                "from a ticket carries only the client's leaf certificate, so clients whose CA "
                "is an intermediate will get invalid_client after resuming"
            )
        certs: list[x509.Certificate] = list(store.anchors)
        runtime = cls(
            settings,
            files,
            store,
            DynamicTrust(certs),
            keys,
            register_on_start,
            anchors=anchors,
            admin=AdminCredentials.from_settings(settings.admin),
            registration=_registration_policy(settings),
            intermediates=load_intermediates(settings.trust.intermediates),
        )
        anchors.on_change = runtime.apply_trust_store
        return runtime

    def apply_trust_store(self, store: TrustStore) -> None:
        """New anchors for new handshakes and for the core's chain verifier, atomically each."""
        self.store = store
        self.trust.replace_anchors(store.anchors)
        if self._provider is not None:
            self._provider.replace_verifier(ChainVerifier(store, intermediates=self.intermediates))

    def provider(self) -> Provider:
        if self._provider is None:
            raise RuntimeError("the runtime has not started")
        return self._provider

    async def start(self) -> None:
        settings = self.settings
        self._stores = await open_store(settings.database_url)
        # One cache of client lookups and mTLS results for the token path, invalidated by every
        # change made here (admin API, DCR) and, within a second, by changes made elsewhere.
        self._clients = clients = CachingClientStore(self._stores.clients)
        self._fetcher = HttpJwksFetcher(allow_private=settings.mtls.allow_jwks_uri_private)
        for client in self.register_on_start:
            try:
                await clients.add(client)
                log.info("registered client %s", client.client_id)
            except ConflictError:
                pass
        self._sync = TrustSync(clients, self.trust, self._fetcher)
        await self._sync.sync_once(force=True)
        self._sync.start()
        self._provider = Provider(
            clients=clients,
            verifier=ChainVerifier(self.store, intermediates=self.intermediates),
            keys=self.keys,
            jwks_fetcher=self._fetcher,
            policy=server_policy(settings),
            clock=system_clock,
            events=AuditLog(),
            revoked=self._stores.revoked_tokens,
            replay=self._stores.replay_cache,
            registration=self.registration,
            registration_tokens=SqlRegistrationTokenStore(self._stores.engine),
        )

    def _admin_context(self) -> AdminContext:
        if self._stores is None or self._clients is None or self.anchors is None:
            raise RuntimeError("the runtime has not started")
        return AdminContext(
            clients=self._clients,
            registration_tokens=SqlRegistrationTokenStore(self._stores.engine),
            anchors=self.anchors,
            provider=self.provider(),
            config=effective_config(self.settings),
            events=AuditLog(),
            now=lambda: dt.datetime.now(dt.UTC),
        )

    async def close(self) -> None:
        if self._sync is not None:
            await self._sync.stop()
        if self._fetcher is not None:
            await self._fetcher.aclose()
        if self._stores is not None:
            await self._stores.close()

    def app(self) -> Starlette:
        settings = self.settings
        try:
            proxies = TrustedProxies.from_cidrs(settings.trust.trusted_proxies)
        except ValueError as exc:
            raise ConfigError(f"trust.trusted_proxies: {exc}") from None
        if settings.trust.nginx_header != NGINX_HEADER:  # until create_app takes nginx_header
            raise ConfigError(f"trust.nginx_header: only {NGINX_HEADER!r} is supported for now")

        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.close()

        return create_app(
            self.provider,
            trusted_proxies=proxies,
            max_body=settings.server.max_body_bytes,
            lifespan=lifespan,
            header_sources=settings.trust.header_sources,
            extra_routes=admin_routes(
                self._admin_context, self.admin, max_body=settings.server.max_body_bytes
            ),
        )


def _registration_policy(settings: Settings) -> RegistrationPolicy:
    """``[registration]``: open, or the initial access token's SHA-256 (ConfigError if bad)."""
    reg = settings.registration
    digest = secret_sha256(
        reg.initial_access_token,
        reg.initial_access_token_file,
        "registration.initial_access_token",
    )
    return RegistrationPolicy(open=reg.open, initial_access_token_sha256=digest)
