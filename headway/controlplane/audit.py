"""The audit log: every governance decision on a model, in the control-plane store.

Each decision (a version registered, blessed or not, approved, rejected, promoted, rolled
back, archived, or promoted unblessed with ``--force``) is one row of ``headway_audit``:
when (UTC), who, on which model and version, why, and a JSON object of details (gate
results, the previous champion version, ...).

The store is any SQLAlchemy database, used through SQLAlchemy Core: SQLite by default at
``DIR/.headway/control.db`` (see :func:`default_url`), PostgreSQL when the team shares one.
SQLite runs in WAL mode with a busy timeout, and every write takes the write lock up front
(``BEGIN IMMEDIATE``), so several processes can append to one file at once.

The URL is the caller's to choose: this module reads no environment variable.

Example:
    >>> with AuditLog(default_url(project.state_dir)) as log:  # doctest: +SKIP
    ...     log.record("promoted", model="churn", version="3", reason="beats v2")
"""

from __future__ import annotations

import getpass
import json
import math
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    select,
    text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.types import TypeDecorator

from headway.exceptions import ConfigError, HeadwayError

if TYPE_CHECKING:
    from headway.project import Project

__all__ = [
    "AUDIT_ACTIONS",
    "CONTROL_DB_FILENAME",
    "SCHEMA_VERSION",
    "AuditEvent",
    "AuditLog",
    "default_actor",
    "default_url",
]

AUDIT_ACTIONS: tuple[str, ...] = (
    "registered",
    "blessed",
    "not_blessed",
    "approved",
    "rejected",
    "promoted",
    "rolled_back",
    "archived",
    "forced",
)

CONTROL_DB_FILENAME = "control.db"

# Version of the control-plane schema this headway writes; stored in ``headway_meta`` so
# that later migrations (and older headway releases) can tell what a database holds.
SCHEMA_VERSION = 1

_MAX_NAME = 255  # model names and actors are VARCHAR(255)
_MAX_VERSION = 64
_SQLITE_BUSY_TIMEOUT_S = 30.0
# Dialects whose DATETIME has no time zone: UTC is stored naive and read back as UTC.
_NAIVE_DATETIME_DIALECTS = frozenset({"sqlite", "mysql", "mariadb"})
# Any constant: serialises schema creation between processes on PostgreSQL.
_PG_INIT_LOCK_KEY = 0x68656164  # "head"


class _UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (naive UTC where the column has none)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"datetime {value.isoformat()} must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name in _NAIVE_DATETIME_DIALECTS else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_metadata = MetaData()

_audit = Table(
    "headway_audit",
    _metadata,
    # BIGSERIAL on PostgreSQL; INTEGER PRIMARY KEY (the rowid) on SQLite.
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
    Column("at", _UTCDateTime(), nullable=False),
    Column("action", String(32), nullable=False),
    Column("model", String(_MAX_NAME), nullable=False),
    Column("version", String(_MAX_VERSION), nullable=True),
    Column("actor", String(_MAX_NAME), nullable=False),
    Column("reason", Text(), nullable=False),
    Column("details", JSON(), nullable=False),
    Index("ix_headway_audit_model_at", "model", "at"),
)

_meta = Table(
    "headway_meta",
    _metadata,
    Column("key", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
)


@dataclass(frozen=True)
class AuditEvent:
    """One governance decision, as stored.

    Attributes:
        id: increasing number assigned by the store.
        at: when it was decided, timezone-aware UTC.
        action: one of :data:`AUDIT_ACTIONS`.
        model: registered model name.
        version: model version, or ``None`` for a decision on the model as a whole.
        actor: who decided (a user name).
        reason: free text, may be empty.
        details: JSON object, e.g. gate results or the previous champion version.
    """

    id: int
    at: datetime
    action: str
    model: str
    version: str | None
    actor: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the event, with ``at`` as an ISO 8601 string."""
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "action": self.action,
            "model": self.model,
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "details": self.details,
        }


def default_url(state_dir: str | Path) -> str:
    """SQLAlchemy URL of the embedded control-plane store, ``STATE_DIR/control.db``.

    Example:
        >>> default_url(Path("/p/.headway"))
        'sqlite:////p/.headway/control.db'
    """
    return f"sqlite:///{Path(state_dir) / CONTROL_DB_FILENAME}"


def default_actor() -> str:
    """The OS user name running this process, or ``"unknown"`` when it cannot be told."""
    try:
        name = getpass.getuser()
    except (OSError, KeyError, ImportError):  # no login name variable and no passwd entry
        return "unknown"
    return name or "unknown"


def _check_text(key: str, value: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{key} {value[:40]!r}... is longer than {limit} characters")
    return value


def _check_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON round-tripped copy of ``details``, so that what is returned is what is stored.

    Raises:
        ValueError: ``details`` is not a mapping with string keys, or a value cannot be
            written as JSON (the message names its key).
    """
    if details is None:
        return {}
    if not isinstance(details, Mapping):
        raise ValueError(f"details must be a JSON object (a dict), got {type(details).__name__}")
    out: dict[str, Any] = {}
    for key, value in details.items():
        if not isinstance(key, str):
            raise ValueError(f"details key {key!r} must be a string, got {type(key).__name__}")
        try:
            out[key] = json.loads(json.dumps(value, allow_nan=False))
        except (TypeError, ValueError) as exc:
            shown = type(value).__name__
            if isinstance(value, float) and not math.isfinite(value):
                shown = repr(value)
            raise ValueError(
                f"details[{key!r}] is not JSON-serialisable ({shown}: {exc}); "
                "pass strings, numbers, booleans, None, lists or dicts of them"
            ) from exc
    return out


def _safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


class AuditLog:
    """Append-only log of governance decisions in a SQLAlchemy database.

    Opening creates the tables when missing and checks the schema version.

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///DIR/.headway/control.db`` (see
            :func:`default_url`) or ``postgresql+psycopg://user@host/db``.

    Raises:
        ConfigError: the URL is malformed or its database driver is not installed.
        HeadwayError: the database cannot be reached or initialised, or it was written
            by a newer headway (its schema version is higher than this one knows).
    """

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError(
                f"control-plane database URL {url!r} is malformed: {exc}. Use e.g. "
                "'sqlite:///PATH/control.db' or 'postgresql+psycopg://USER@HOST/DB'."
            ) from exc
        self._url = parsed
        self._engine = _create_engine(parsed)
        # Writes take the SQLite write lock at BEGIN (see _create_engine).
        self._write_engine = self._engine.execution_options(headway_write=True)
        try:
            self._initialise()
        except BaseException:
            self._engine.dispose()
            raise

    @classmethod
    def for_project(cls, project: Project, *, url: str | None = None) -> AuditLog:
        """The audit log of a project: ``url`` when given, else the project's control-plane
        store (``HEADWAY_CONTROL_DB_URL``, ``control_plane.url``, ``DIR/.headway/control.db``).

        Raises:
            ConfigError: see :class:`AuditLog`.
            HeadwayError: see :class:`AuditLog`.
        """
        return cls(url or project.control_db_url)

    @property
    def url(self) -> str:
        """The database URL, with any password hidden."""
        return _safe_url(self._url)

    def __repr__(self) -> str:
        return f"AuditLog({self.url!r})"

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections; safe to call more than once."""
        self._engine.dispose()

    def record(
        self,
        action: str,
        *,
        model: str,
        version: str | None = None,
        actor: str | None = None,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        """Append one decision, in one transaction, and return it as stored.

        Args:
            action: one of :data:`AUDIT_ACTIONS`.
            model: registered model name.
            version: model version; ``None`` for a decision on the model as a whole.
            actor: who decided; defaults to :func:`default_actor`.
            reason: free text, may be empty.
            details: JSON object (string keys; values JSON-serialisable).
            at: when, timezone-aware; defaults to now (UTC).

        Raises:
            ValueError: unknown action (the message lists the allowed ones), empty model
                or actor, naive ``at``, or details that are not JSON (naming the key).
            HeadwayError: the database refused the write.
        """
        if action not in AUDIT_ACTIONS:
            raise ValueError(
                f"unknown audit action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}"
            )
        _check_text("model", model, _MAX_NAME)
        if version is not None:
            version = _check_text("version", str(version), _MAX_VERSION)
        actor = _check_text("actor", actor if actor is not None else default_actor(), _MAX_NAME)
        if not isinstance(reason, str):
            raise ValueError(f"reason must be a string, got {type(reason).__name__}")
        stored_details = _check_details(details)
        if at is None:
            at = datetime.now(UTC)
        elif at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"at={at.isoformat()} must be timezone-aware (e.g. datetime.now(UTC))")
        at = at.astimezone(UTC)
        row: dict[str, Any] = {
            "at": at,
            "action": action,
            "model": model,
            "version": version,
            "actor": actor,
            "reason": reason,
            "details": stored_details,
        }
        try:
            with self._write_engine.begin() as conn:
                result = conn.execute(_audit.insert().values(**row))
                key = result.inserted_primary_key
        except SQLAlchemyError as exc:
            raise HeadwayError(
                f"cannot write the audit event ({action} {model} {version or ''}) to "
                f"{self.url}: {exc}"
            ) from exc
        if key is None or key[0] is None:  # pragma: no cover - every supported dialect has it
            raise HeadwayError(f"{self.url}: the database returned no id for the audit event")
        return AuditEvent(id=int(key[0]), **row)

    def events(
        self,
        *,
        model: str | None = None,
        version: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEvent]:
        """Stored events matching every given filter, oldest first.

        Args:
            model: only this model.
            version: only this version.
            action: only this action (one of :data:`AUDIT_ACTIONS`).
            since: only events at or after this timezone-aware time.
            limit: only the newest ``limit`` matching events (still oldest first).

        Raises:
            ValueError: unknown action, naive ``since``, or ``limit`` below 1.
            HeadwayError: the database cannot be read.
        """
        if action is not None and action not in AUDIT_ACTIONS:
            raise ValueError(
                f"unknown audit action {action!r}; choose one of {', '.join(AUDIT_ACTIONS)}"
            )
        if since is not None and (since.tzinfo is None or since.utcoffset() is None):
            raise ValueError(f"since={since.isoformat()} must be timezone-aware")
        if limit is not None and (isinstance(limit, bool) or limit < 1):
            raise ValueError(f"limit must be a positive integer, got {limit!r}")
        query = select(_audit)
        if model is not None:
            query = query.where(_audit.c.model == model)
        if version is not None:
            query = query.where(_audit.c.version == str(version))
        if action is not None:
            query = query.where(_audit.c.action == action)
        if since is not None:
            query = query.where(_audit.c.at >= since.astimezone(UTC))
        if limit is not None:
            query = query.order_by(_audit.c.at.desc(), _audit.c.id.desc()).limit(limit)
        else:
            query = query.order_by(_audit.c.at, _audit.c.id)
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as exc:
            raise HeadwayError(f"cannot read the audit log from {self.url}: {exc}") from exc
        found = [
            AuditEvent(
                id=int(r["id"]),
                at=r["at"],
                action=r["action"],
                model=r["model"],
                version=r["version"],
                actor=r["actor"],
                reason=r["reason"],
                details=dict(r["details"] or {}),
            )
            for r in rows
        ]
        if limit is not None:
            found.reverse()
        return found

    def _initialise(self) -> None:
        """Create missing tables and check (or stamp) the schema version, in one transaction."""
        try:
            with self._write_engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_INIT_LOCK_KEY}
                    )
                _metadata.create_all(conn, checkfirst=True)
                self._check_schema_version(conn)
        except SQLAlchemyError as exc:
            raise HeadwayError(
                f"cannot open the control-plane database {self.url}: {exc}. Check the URL, "
                "that the server is running, and that this user may create tables."
            ) from exc

    def _check_schema_version(self, conn: Connection) -> None:
        stored = conn.execute(
            select(_meta.c.value).where(_meta.c.key == "schema_version")
        ).scalar_one_or_none()
        if stored is None:
            conn.execute(_meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return
        try:
            found = int(stored)
        except ValueError as exc:
            raise HeadwayError(
                f"{self.url}: headway_meta.schema_version is {stored!r}, not a number; "
                "this is not a headway control-plane database, or it is damaged"
            ) from exc
        if found > SCHEMA_VERSION:
            raise HeadwayError(
                f"{self.url}: the control-plane database has schema version {found}, written "
                f"by a newer headway; this headway knows version {SCHEMA_VERSION}. "
                "Upgrade headway (pip install -U headway) to use it."
            )


def _create_engine(url: URL) -> Engine:
    """An engine for ``url``; for SQLite: parent folder created, WAL, busy timeout.

    Raises:
        ConfigError: the dialect or its driver is not installed.
    """
    backend = url.get_backend_name()
    is_sqlite = backend == "sqlite"
    if is_sqlite:
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    try:
        if is_sqlite:
            engine = create_engine(
                url, future=True, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S}
            )
        else:
            engine = create_engine(url, future=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        hint = " (pip install 'psycopg[binary]')" if backend == "postgresql" else ""
        raise ConfigError(
            f"cannot use the control-plane database {_safe_url(url)}: {exc}. Install its "
            f"database driver{hint}, or use a 'sqlite:///' URL."
        ) from exc
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    """WAL (readers never block the writer), a busy timeout, and explicit transactions.

    pysqlite's own transaction handling begins lazily and DEFERRED, so two writers can
    both read first and then fail to upgrade their lock without waiting. Instead headway
    emits ``BEGIN`` itself: ``IMMEDIATE`` (wait for the write lock up front) on the
    write engine, ``DEFERRED`` for reads.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit at the driver; we BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
            # Switching a new file to WAL needs an exclusive lock, for which SQLite does not
            # call the busy handler: two processes opening it at once retry here instead.
            deadline = time.monotonic() + _SQLITE_BUSY_TIMEOUT_S
            while True:
                try:
                    cursor.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("headway_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
