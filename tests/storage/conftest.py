"""Storage backends for the contract suite: memory | SQLite file | PostgreSQL.

PostgreSQL runs only when CERTBOUND_TEST_DATABASE_URL is set; each test then gets its own schema,
dropped afterwards, so reruns and parallel runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey
from sqlalchemy.ext.asyncio import AsyncEngine

from certbound.core.clients import Client
from certbound.storage import (
    MemoryReplayCache,
    MemoryStores,
    SqlStores,
    create_engine,
    open_store,
    upgrade,
)

if TYPE_CHECKING:
    from conftest import TestPKI

PG_URL = os.environ.get("CERTBOUND_TEST_DATABASE_URL")
_NO_PG = pytest.mark.skipif(PG_URL is None, reason="CERTBOUND_TEST_DATABASE_URL not set")

SQL_BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[pytest.mark.postgres, _NO_PG]),
]
ALL_BACKENDS = [pytest.param("memory", id="memory"), *SQL_BACKENDS]


@dataclass(frozen=True)
class Backend:
    """One database (or the memory store) for one test."""

    name: str
    url: str = ""
    schema: str | None = None

    async def open(self) -> SqlStores | MemoryStores:
        """A new store instance; for SQL a new engine, i.e. what another process would have."""
        if self.name == "memory":
            return MemoryStores()
        return await self.open_sql()

    async def open_with_clock(self, clock: Callable[[], float]) -> SqlStores | MemoryStores:
        """A new store instance whose time-dependent stores read ``clock``."""
        if self.name == "memory":
            return MemoryStores(replay_cache=MemoryReplayCache(clock=clock))
        migrated = await self.open_sql()
        return SqlStores.from_engine(migrated.engine, clock=clock)

    async def open_sql(self, *, migrate: bool = True) -> SqlStores:
        assert self.name != "memory"
        return await open_store(self.url, migrate=migrate, schema=self.schema)

    def engine(self) -> AsyncEngine:
        """A new engine on this database (the caller disposes it)."""
        return create_engine(self.url, schema=self.schema)


async def _execute_on_pg(*statements: str) -> None:
    assert PG_URL is not None
    engine = create_engine(PG_URL)
    try:
        async with engine.begin() as connection:
            for sql in statements:
                await connection.exec_driver_sql(sql)
    finally:
        await engine.dispose()


async def _backend(name: str, tmp_path: Path, template: Path | None) -> AsyncIterator[Backend]:
    if name == "memory":
        yield Backend("memory")
    elif name == "sqlite":
        path = tmp_path / "data" / "certbound.db"
        if template is not None:  # a copy of a migrated file: 20 ms instead of 100
            path.parent.mkdir()
            shutil.copyfile(template, path)
        yield Backend("sqlite", f"sqlite+aiosqlite:///{path}")
    else:
        assert PG_URL is not None
        schema = f"certbound_test_{uuid.uuid4().hex}"
        await _execute_on_pg(f"CREATE SCHEMA {schema}")
        try:
            yield Backend("postgresql", PG_URL, schema)
        finally:
            # A test that left a transaction open must fail, not hang the teardown.
            await _execute_on_pg("SET LOCAL lock_timeout = '5s'", f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "certbound.db"
    asyncio.run(upgrade(f"sqlite:///{path}"))
    return path


@pytest.fixture(params=ALL_BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, migrated_sqlite_template: Path
) -> AsyncIterator[Backend]:
    """A database for the store contract (SQLite: already migrated; open() migrates anyway)."""
    async for b in _backend(request.param, tmp_path, migrated_sqlite_template):
        yield b


@pytest.fixture(params=SQL_BACKENDS)
async def sql_backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """A fresh database that was never migrated."""
    async for b in _backend(request.param, tmp_path, None):
        yield b


@pytest.fixture
async def stores(backend: Backend) -> AsyncIterator[SqlStores | MemoryStores]:
    opened = await backend.open()
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def full_client(pki: TestPKI) -> Client:
    """A client with every field set to a non-default value (the round-trip subject)."""
    cert = pki.self_signed.cert
    jwk = ECKey.import_key(cert.public_key()).as_dict()
    der = cert.public_bytes(serialization.Encoding.DER)
    jwk["x5c"] = [base64.b64encode(der).decode()]
    return Client(
        client_id="client-1",
        token_endpoint_auth_method="self_signed_tls_client_auth",
        grant_types=("client_credentials", "authorization_code", "refresh_token"),
        response_types=("code",),
        redirect_uris=("https://app.example.com/cb", "https://app.example.com/cb?x=1"),
        scope=("read", "write:all"),
        client_name='Client Ünïcödé ✓ "quoted"',
        tls_client_auth_subject_dn=pki.client.cert.subject.rfc4514_string(),
        tls_client_auth_san_dns="client-1.example.com",
        tls_client_auth_san_uri="spiffe://example.com/client-1",
        tls_client_auth_san_ip="2001:db8::1",
        tls_client_auth_san_email="ops@example.com",
        jwks={"keys": [jwk]},
        jwks_uri="https://app.example.com/jwks.json",
        tls_client_certificate_bound_access_tokens=False,
        access_token_lifetime=600,
        client_id_issued_at=1_764_000_000,
        extra={
            "software_id": "4NRB1-0XZABZI9E6-5SM3R",
            "contacts": ["ops@example.com"],
            "nested": {"list": [1, 2.5, None, True, "s"], "empty": {}},
        },
    )
