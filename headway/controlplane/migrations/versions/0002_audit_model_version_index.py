"""Index the audit log by model and version (model cards, ``headway audit --version``).

Sets schema version 2: headway 0.1.0 refuses the upgraded database with a message asking
to upgrade headway, rather than writing to a schema it does not know.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Add ``ix_headway_audit_model_version`` and set schema version 2."""
    with op.batch_alter_table("headway_audit") as batch:
        batch.create_index("ix_headway_audit_model_version", ["model", "version"])
    _set_schema_version(2)


def downgrade() -> None:
    """Drop the index and set schema version 1 again."""
    with op.batch_alter_table("headway_audit") as batch:
        batch.drop_index("ix_headway_audit_model_version")
    _set_schema_version(1)
