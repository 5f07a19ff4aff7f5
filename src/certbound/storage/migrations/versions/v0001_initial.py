"""Initial schema: clients, meta (clients_revision), revoked_tokens, used_jtis.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Self-contained on purpose (it does not import schema.py, which moves on with later revisions).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name="pk_clients"),
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )
    op.bulk_insert(meta, [{"key": "clients_revision", "value": 0}])
    for name in ("revoked_tokens", "used_jtis"):
        op.create_table(
            name,
            sa.Column("jti", sa.Text(), nullable=False),
            sa.Column("expires_at", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("jti", name=f"pk_{name}"),
        )
        op.create_index(f"ix_{name}_expires_at", name, ["expires_at"])


def downgrade() -> None:
    for name in ("used_jtis", "revoked_tokens"):
        op.drop_index(f"ix_{name}_expires_at", table_name=name)
        op.drop_table(name)
    op.drop_table("meta")
    op.drop_table("clients")
