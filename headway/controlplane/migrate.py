"""Schema migrations of the control-plane store, by Alembic, applied in place on open.

The migrations ship inside the package (``migrations/``: ``env.py`` and ``versions/``), and
Alembic is configured in code: no ``alembic.ini`` is read, and the connection is headway's
own. Opening a database (:func:`open_schema`, called by every store, or :func:`upgrade`)
takes the write lock (SQLite ``BEGIN IMMEDIATE``, a PostgreSQL advisory lock), then, in
that one transaction:

- an empty database is migrated to the head revision;
- a headway 0.1.0 database (``headway_audit`` and ``headway_meta`` with schema version 1,
  no ``headway_alembic_version``) is stamped at the baseline revision ``0001``, then migrated to
  head, keeping every row;
- a database at head is left as it is;
- a database written by a newer headway (a revision this headway does not know, or a
  schema version above :data:`~headway.controlplane.schema.SCHEMA_VERSION`) is refused
  unchanged, with a message asking to upgrade headway.

A new migration, after changing :mod:`headway.controlplane.schema`, is written against a
database at head, e.g.::

    from alembic import command
    with write_engine(engine).begin() as conn:
        command.revision(alembic_config(conn), "add deployments", autogenerate=True,
                         rev_id="0003")
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from headway._schema_lock import SCHEMA_LOCK
from headway.controlplane.engine import create_engine, parse_url, safe_url, write_engine
from headway.controlplane.schema import (
    SCHEMA_VERSION,
    SCHEMA_VERSION_KEY,
    TABLE_PREFIX,
    VERSION_TABLE,
    meta_table,
)
from headway.exceptions import HeadwayError

__all__ = [
    "BASELINE_REVISION",
    "alembic_config",
    "current_revision",
    "head_revision",
    "open_schema",
    "upgrade",
]

logger = logging.getLogger(__name__)

# The revision that stands for the schema headway 0.1.0 created without migrations.
BASELINE_REVISION = "0001"
_BASELINE_TABLES = frozenset({"headway_audit", "headway_meta"})
_MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises schema changes between processes on PostgreSQL.
_PG_INIT_LOCK_KEY = 0x68656164  # "head"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the shipped migrations, built in code.

    Args:
        connection: the connection to migrate, inside a transaction the caller owns;
            ``None`` to read the scripts only.
    """
    config = Config()
    # The value goes through ConfigParser interpolation, where '%' is special.
    config.set_main_option("script_location", str(_MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration revision this headway ships, e.g. ``"0003"``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise HeadwayError(f"no control-plane migrations found in {_MIGRATIONS_DIR}")
    return head


def open_schema(engine: Engine, *, shown_url: str) -> str:
    """Bring the database of ``engine`` to the head revision, in one write transaction.

    Args:
        engine: an engine made by :func:`~headway.controlplane.engine.create_engine`.
        shown_url: the URL for messages, password hidden.

    Returns:
        The revision the database is at now (the head revision).

    Raises:
        HeadwayError: the database cannot be reached or changed, it was written by a
            newer headway, or it is not a headway control-plane database; in each case
            the transaction is rolled back and nothing is changed.
    """
    # Taken before the database lock, never after (see headway._schema_lock).
    with SCHEMA_LOCK:
        try:
            with write_engine(engine).begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK_KEY}
                    )
                return _migrate(conn, shown_url)
        except (SQLAlchemyError, CommandError) as exc:
            raise HeadwayError(
                f"cannot open the control-plane database {shown_url}: {exc}. Check the URL, "
                "that the server is running, and that this user may create tables."
            ) from exc


def upgrade(url: str) -> str:
    """Upgrade the control-plane database at ``url`` in place; what opening it does.

    Example:
        >>> upgrade("sqlite:///p/.headway/control.db")  # doctest: +SKIP
        '0002'

    Returns:
        The revision the database is at now.

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: see :func:`open_schema`.
    """
    parsed = parse_url(url)
    engine = create_engine(parsed)
    try:
        return open_schema(engine, shown_url=safe_url(parsed))
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The migration revision of the database at ``url``, changing nothing.

    Returns:
        The revision, or ``None`` when the database has none yet: it is empty, its SQLite
        file does not exist, or headway 0.1.0 wrote it (opening it stamps and upgrades it).

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: the database cannot be read.
    """
    parsed = parse_url(url)
    database = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and database not in ("", ":memory:")
        and not database.startswith("file:")
        and not Path(database).expanduser().exists()
    ):
        return None
    engine = create_engine(parsed)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE}
            ).get_current_revision()
    except (SQLAlchemyError, CommandError) as exc:
        raise HeadwayError(
            f"cannot read the control-plane database {safe_url(parsed)}: {exc}"
        ) from exc
    finally:
        engine.dispose()


def _migrate(conn: Connection, shown_url: str) -> str:
    """Detect the state of the database on ``conn`` and migrate it to head (see module)."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    known = {rev.revision for rev in script.walk_revisions()}
    tables = set(inspect(conn).get_table_names())
    revisions = MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_heads()
    stored = _stored_schema_version(conn, tables, shown_url)

    unknown = sorted(rev for rev in revisions if rev not in known)
    if unknown:
        found = f"migration revision {', '.join(unknown)}"
        raise _newer_headway_error(shown_url, found, head)
    if stored is not None and stored > SCHEMA_VERSION:
        raise _newer_headway_error(shown_url, f"schema version {stored}", head)
    if revisions == (head,):
        return str(head)

    config = alembic_config(conn)
    if not revisions:
        ours = {name for name in tables if name.startswith(TABLE_PREFIX)}
        if stored == 1 and _BASELINE_TABLES.issubset(ours):
            # Written by headway 0.1.0, which created this schema without migrations.
            command.stamp(config, BASELINE_REVISION)
            revisions = (BASELINE_REVISION,)
        elif stored is not None or ours:
            raise _not_ours_error(
                shown_url,
                f"it has tables {', '.join(sorted(ours))} and schema version {stored}, "
                f"but no {VERSION_TABLE} table",
            )
    command.upgrade(config, "head")
    logger.info(
        "upgraded the control-plane database %s from %s to %s",
        shown_url,
        _describe(revisions),
        head,
    )
    return str(head)


def _stored_schema_version(conn: Connection, tables: set[str], shown_url: str) -> int | None:
    """``headway_meta.schema_version`` as a number; ``None`` when the table or row is missing.

    Raises:
        HeadwayError: the stored value is not a number.
    """
    if meta_table.name not in tables:
        return None
    stored = conn.execute(
        select(meta_table.c.value).where(meta_table.c.key == SCHEMA_VERSION_KEY)
    ).scalar_one_or_none()
    if stored is None:
        return None
    try:
        return int(stored)
    except ValueError as exc:
        raise _not_ours_error(
            shown_url, f"headway_meta.schema_version is {stored!r}, not a number"
        ) from exc


def _newer_headway_error(shown_url: str, found: str, head: str | None) -> HeadwayError:
    return HeadwayError(
        f"{shown_url}: the control-plane database has {found}, written by a newer headway; "
        f"this headway knows version {SCHEMA_VERSION} (migration revision {head}). "
        "Upgrade headway (pip install -U headway) to use it."
    )


def _not_ours_error(shown_url: str, what: str) -> HeadwayError:
    return HeadwayError(
        f"{shown_url}: {what}; this is not a headway control-plane database, or it is "
        "damaged. Restore it from a backup, or point control_plane.url (or "
        "HEADWAY_CONTROL_DB_URL) at another database."
    )


def _describe(revisions: Iterable[str]) -> str:
    return ", ".join(revisions) or "an empty database"
