"""RFC 7592 registration access tokens (their SHA-256 only), one per client.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Self-contained on purpose (it does not import schema.py, which moves on with later revisions).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "registration_tokens",
        sa.Column("client_id", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("issued_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.client_id"],
            name="fk_registration_tokens_client_id_clients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name="pk_registration_tokens"),
    )


def downgrade() -> None:
    op.drop_table("registration_tokens")
