"""Baseline: the schema of headway 0.1.0 (the audit log and the schema version).

A database created by headway 0.1.0 (before migrations) holds exactly this schema; it is
stamped at this revision, not created again, when it is first opened.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``headway_audit`` and ``headway_meta`` and stamp schema version 1."""
    op.create_table(
        "headway_audit",
        # BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        # Written as UTC (naive where the column has no time zone, as on SQLite).
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=True),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_headway_audit_model_at", "headway_audit", ["model", "at"])
    meta = op.create_table(
        "headway_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    """Drop both tables, and with them the audit log."""
    op.drop_table("headway_meta")
    op.drop_index("ix_headway_audit_model_at", table_name="headway_audit")
    op.drop_table("headway_audit")
