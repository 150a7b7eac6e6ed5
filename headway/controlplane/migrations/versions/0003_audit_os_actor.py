"""Record the operating-system user beside the claimed actor of every audit event.

``actor`` is who the caller says decided (``--by``); ``os_actor`` is the user the process
ran as, so that a claimed name can be checked. Events written before this revision have
no ``os_actor`` (NULL). Sets schema version 3.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_meta = sa.table("headway_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _set_schema_version(value: int) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=str(value)))


def upgrade() -> None:
    """Add the nullable ``headway_audit.os_actor`` and set schema version 3."""
    with op.batch_alter_table("headway_audit") as batch:
        batch.add_column(sa.Column("os_actor", sa.String(255), nullable=True))
    _set_schema_version(3)


def downgrade() -> None:
    """Drop ``os_actor`` and set schema version 2 again."""
    with op.batch_alter_table("headway_audit") as batch:
        batch.drop_column("os_actor")
    _set_schema_version(2)
