"""SQLAlchemy engines for the control-plane store: SQLite embedded, PostgreSQL by URL.

SQLite runs in WAL mode with a busy timeout, and every transaction begun on a
:func:`write_engine` takes the write lock up front (``BEGIN IMMEDIATE``), so several
processes can write to one file at once. Every engine is made by :func:`create_engine`
for its caller, who disposes of it: this module holds no engine of its own.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError

from headway.exceptions import ConfigError
from headway.redact import redact_text, redact_uri

__all__ = [
    "create_engine",
    "parse_url",
    "safe_url",
    "write_engine",
]

_SQLITE_BUSY_TIMEOUT_S = 30.0
# Execution option that makes the SQLite ``begin`` hook take the write lock at once.
_WRITE_OPTION = "headway_write"


def parse_url(url: str) -> URL:
    """The parsed SQLAlchemy URL of a control-plane database.

    Raises:
        ConfigError: the URL is malformed (the message shows a valid example).
    """
    try:
        return make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"control-plane database URL {redact_uri(url)!r} is malformed: "
            f"{redact_text(str(exc))}. Use e.g. "
            "'sqlite:///PATH/control.db' or 'postgresql+psycopg://USER@HOST/DB'."
        ) from exc


def safe_url(url: URL) -> str:
    """``url`` as text with any password hidden: the only form for messages and logs."""
    return url.render_as_string(hide_password=True)


def create_engine(url: URL) -> Engine:
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
            engine = sqlalchemy.create_engine(
                url, future=True, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S}
            )
        else:
            engine = sqlalchemy.create_engine(url, future=True, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        hint = " (pip install 'psycopg[binary]')" if backend == "postgresql" else ""
        raise ConfigError(
            f"cannot use the control-plane database {safe_url(url)}: {exc}. Install its "
            f"database driver{hint}, or use a 'sqlite:///' URL."
        ) from exc
    if is_sqlite:
        _configure_sqlite(engine)
    return engine


def write_engine(engine: Engine) -> Engine:
    """A view of ``engine`` whose transactions take the SQLite write lock at ``BEGIN``.

    Use it for every transaction that writes, so that two writers never both read first
    and then fail to upgrade their lock. On other backends it is ``engine`` unchanged.
    """
    return engine.execution_options(**{_WRITE_OPTION: True})


def _configure_sqlite(engine: Engine) -> None:
    """WAL (readers never block the writer), a busy timeout, and explicit transactions.

    pysqlite's own transaction handling begins lazily and DEFERRED, so two writers can
    both read first and then fail to upgrade their lock without waiting. Instead headway
    emits ``BEGIN`` itself: ``IMMEDIATE`` (wait for the write lock up front) on a
    :func:`write_engine`, ``DEFERRED`` for reads.
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
        write = conn.get_execution_options().get(_WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
