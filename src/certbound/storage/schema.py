"""SQLAlchemy Core tables (no ORM). Times are integer epoch seconds so that one SQL text serves
SQLite and PostgreSQL (BIGINT: past 2038). The migrations in ``migrations/versions`` create exactly
these tables; a test compares the migrated database with this module.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, MetaData, Table, Text

__all__ = [
    "CLIENTS_REVISION",
    "METADATA",
    "clients",
    "meta",
    "registration_tokens",
    "revoked_tokens",
    "used_jtis",
]

METADATA = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Registered clients: the RFC 7591 metadata of Client.to_metadata() as JSON text.
clients = Table(
    "clients",
    METADATA,
    Column("client_id", Text, primary_key=True),
    Column("metadata", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# Counters; "clients_revision" changes in the same transaction as every client change.
meta = Table(
    "meta",
    METADATA,
    Column("key", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
)
CLIENTS_REVISION = "clients_revision"

# Revoked access/refresh tokens by jti (RFC 7009), kept until they would have expired anyway.
revoked_tokens = Table(
    "revoked_tokens",
    METADATA,
    Column("jti", Text, primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

# private_key_jwt assertion ids seen (RFC 7523 §3 item 7: replay), until their exp.
used_jtis = Table(
    "used_jtis",
    METADATA,
    Column("jti", Text, primary_key=True),
    Column("expires_at", BigInteger, nullable=False),
    Index(None, "expires_at"),
)

# RFC 7592 registration access tokens: only their SHA-256 (hex), one per client. Removing the
# client removes its token (ON DELETE CASCADE; SQLite connections enable foreign_keys).
registration_tokens = Table(
    "registration_tokens",
    METADATA,
    Column(
        "client_id",
        Text,
        ForeignKey("clients.client_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("token_sha256", Text, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
)
