"""Alembic environment of the control plane: runs the migrations on headway's connection.

headway builds the Alembic configuration in code (see :mod:`headway.controlplane.migrate`)
and passes an open connection, inside a transaction it owns, as
``config.attributes["connection"]``. This script reads no environment variable and no
ini file, configures no logging, and changes no other state.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from headway.controlplane.schema import TABLE_PREFIX, VERSION_TABLE, metadata
from headway.exceptions import HeadwayError


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Compare only headway's own tables; others in a shared database are not ours."""
    if type_ == "table":
        return name is not None and name.startswith(TABLE_PREFIX)
    return True


def run_migrations() -> None:
    """Run the migrations on the connection that headway passed in.

    Raises:
        HeadwayError: no connection was passed in, or offline (``--sql``) mode was asked.
    """
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise HeadwayError(
            "the control-plane migrations run only on a connection opened by headway: "
            "use headway.controlplane.upgrade(URL) instead of the alembic command"
        )
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=include_name,
        # SQLite alters most tables by copying them: let autogenerate write batch operations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
