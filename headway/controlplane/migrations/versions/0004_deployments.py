"""The deployment record: per registered model, the candidate under rollout and the split.

One row per registered model: the candidate version (NULL when the champion serves alone),
the mode (``single``, ``shadow``, ``canary``, ``ab``), the candidate's share of traffic,
the entity column of an A/B split, a revision that increases with every change, and when,
by whom and why it last changed. A model without a row serves its champion alone. Sets
schema version 4.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Create ``headway_deployments`` and set schema version 4."""
    op.create_table(
        "headway_deployments",
        sa.Column("model", sa.String(255), primary_key=True),
        sa.Column("candidate", sa.String(64), nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("entity_column", sa.String(255), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        # Written as UTC (naive where the column has no time zone, as on SQLite).
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("os_actor", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    _set_schema_version(4)


def downgrade() -> None:
    """Drop ``headway_deployments``, and with it every deployment record; schema version 3."""
    op.drop_table("headway_deployments")
    _set_schema_version(3)
