"""Rollouts and leases: the autopilot's state machine per rollout, and one controller per
project at a time. Sets schema version 6.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Create ``headway_rollouts`` and ``headway_leases``; set schema version 6."""
    op.create_table(
        "headway_rollouts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("candidate", sa.String(64), nullable=False),
        sa.Column("champion", sa.String(64), nullable=True),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        # Written as UTC (naive where the column has no time zone, as on SQLite).
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("step_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
    )
    op.create_index("ix_headway_rollouts_model_status", "headway_rollouts", ["model", "status"])
    op.create_table(
        "headway_leases",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    _set_schema_version(6)


def downgrade() -> None:
    """Drop both tables, and with them every rollout and lease; schema version 5."""
    op.drop_table("headway_leases")
    op.drop_index("ix_headway_rollouts_model_status", table_name="headway_rollouts")
    op.drop_table("headway_rollouts")
    _set_schema_version(5)
