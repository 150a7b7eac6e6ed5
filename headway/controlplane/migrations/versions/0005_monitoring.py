"""Monitoring results: one row per model, version and window tested by ``headway monitor``.

The verdicts (rows, status, dataset drift, alarms) are columns, the whole window report a
JSON column. Sets schema version 5.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Create ``headway_monitoring`` and set schema version 5."""
    op.create_table(
        "headway_monitoring",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        # Written as UTC (naive where the column has no time zone, as on SQLite).
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dataset_drift", sa.Integer(), nullable=False),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
    )
    op.create_index(
        "ix_headway_monitoring_model_end", "headway_monitoring", ["model", "window_end"]
    )
    _set_schema_version(5)


def downgrade() -> None:
    """Drop ``headway_monitoring``, and with it every stored window; schema version 4."""
    op.drop_index("ix_headway_monitoring_model_end", table_name="headway_monitoring")
    op.drop_table("headway_monitoring")
    _set_schema_version(4)
