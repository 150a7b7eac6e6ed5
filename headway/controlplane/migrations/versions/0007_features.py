"""Feature definitions: the entities, feature views and services ``headway features apply``
registered. Sets schema version 7.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Create ``headway_features``; set schema version 7."""
    op.create_table(
        "headway_features",
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        # Written as UTC (naive where the column has no time zone, as on SQLite).
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_by", sa.String(255), nullable=False),
    )
    _set_schema_version(7)


def downgrade() -> None:
    """Drop ``headway_features``, and with it every applied definition; schema version 6."""
    op.drop_table("headway_features")
    _set_schema_version(6)
