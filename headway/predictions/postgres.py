"""The prediction log in a SQL database: PostgreSQL (the target), or SQLite through the same code.

Two tables, created on first use: ``headway_predictions`` (one row per prediction, keyed
by ``prediction_id``; ``inputs`` and ``outputs`` as JSONB) and ``headway_feedback`` (every
label received, in arrival order). Each :meth:`SqlPredictionLog.append` is one
transaction; an id already logged is left as it was (a retried batch is harmless).

What a crash can lose:

- ``fsync: batch`` (the default): nothing acknowledged: ``append`` returns after its
  transaction committed, and a committed transaction survives a crash of the database
  server (PostgreSQL's WAL; SQLite's journal with ``synchronous = FULL``).
- ``fsync: none``: PostgreSQL commits asynchronously (``synchronous_commit = off``) and
  SQLite stops flushing (``synchronous = OFF``): a crash of the database's machine may
  lose the last transactions acknowledged (for PostgreSQL, up to three times
  ``wal_writer_delay``), never corrupting the rest.

``pip install 'headway[postgres]'`` installs the PostgreSQL driver (psycopg 3); a
``postgresql://`` URL uses it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from headway.exceptions import ConfigError
from headway.predictions._frames import dumps, feedback_frame, finish_predictions, prediction_frame
from headway.predictions._frames import to_us as _to_us
from headway.predictions.base import BasePredictionLog, Feedback, PredictionRecord, as_utc
from headway.predictions.local import check_fsync
from headway.redact import redact_text, redact_uri
from headway.sqltypes import UTCDateTime

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SqlPredictionLog"]

logger = logging.getLogger(__name__)

_SQLITE_BUSY_TIMEOUT_S = 30
_IDS_PER_QUERY = 500  # under SQLite's limit on bound parameters
# Serialises table creation across processes (PostgreSQL's create_all is not atomic).
_CREATE_LOCK_KEY = 0x68656164776179  # "headway"


_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_metadata = sa.MetaData()
_predictions = sa.Table(
    "headway_predictions",
    _metadata,
    sa.Column("prediction_id", sa.String(255), primary_key=True),
    sa.Column("timestamp", UTCDateTime(), nullable=False, index=True),
    sa.Column("model_name", sa.String(255), nullable=False, index=True),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("route", sa.String(16), nullable=False),
    sa.Column("latency_ms", sa.Float(), nullable=False),
    sa.Column("inputs", _JSON, nullable=False),
    sa.Column("outputs", _JSON, nullable=False),
)
_feedback = sa.Table(
    "headway_feedback",
    _metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("prediction_id", sa.String(255), nullable=False, index=True),
    sa.Column("label", _JSON, nullable=True),
    sa.Column("observed_at", UTCDateTime(), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
)
_PREDICTION_COLUMNS = [
    _predictions.c.prediction_id,
    _predictions.c.timestamp,
    _predictions.c.model_name,
    _predictions.c.model_version,
    _predictions.c.route,
    _predictions.c.latency_ms,
    _predictions.c.inputs,
    _predictions.c.outputs,
]


class SqlPredictionLog(BasePredictionLog):
    """The prediction log in the database at ``url`` (see the module docstring).

    Args:
        url: a SQLAlchemy URL: ``postgresql+psycopg://USER:PASSWORD@HOST/DB`` (or
            ``postgresql://``), or ``sqlite:///PATH``.
        fsync: ``batch`` (synchronous commits) or ``none`` (asynchronous commits).

    Raises:
        ConfigError: the URL is malformed or names another database, its driver is not
            installed, or the database cannot be reached (the password is masked).
    """

    def __init__(self, url: str, *, fsync: str = "batch") -> None:
        durable = check_fsync(fsync)
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:  # ValueError: a port that is no number
            raise ConfigError(
                f"predictions.url (or HEADWAY_PREDICTIONS_URL) {redact_uri(url)!r} is "
                f"malformed: {redact_text(str(exc))}. Use e.g. "
                "'postgresql+psycopg://USER@HOST/DB'."
            ) from exc
        backend = parsed.get_backend_name()
        if backend not in ("postgresql", "sqlite"):
            raise ConfigError(
                f"predictions.url (or HEADWAY_PREDICTIONS_URL) {redact_uri(url)!r}: the "
                "prediction log runs on PostgreSQL or SQLite, not on "
                f"{backend!r}. Use e.g. 'postgresql+psycopg://USER@HOST/DB'."
            )
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._safe_url = parsed.render_as_string(hide_password=True)
        self._postgres = backend == "postgresql"
        self._engine = self._create_engine(parsed, durable=durable)
        try:
            self._create_tables()
        except SQLAlchemyError as exc:
            self._engine.dispose()
            raise ConfigError(
                f"cannot open the prediction log at {self._safe_url}: "
                f"{redact_text(str(exc.orig if hasattr(exc, 'orig') else exc))}. Check "
                "predictions.url (or HEADWAY_PREDICTIONS_URL) and that the database runs."
            ) from exc

    def _create_engine(self, url: sa.URL, *, durable: bool) -> Engine:
        options: dict[str, Any] = {
            "json_serializer": lambda value: dumps(value).decode(),
            "json_deserializer": _loads,
        }
        if self._postgres:
            options["pool_pre_ping"] = True
        else:
            database = url.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": _SQLITE_BUSY_TIMEOUT_S}
        try:
            engine = sa.create_engine(url, **options)
        except (ArgumentError, ImportError) as exc:
            hint = " (pip install 'headway[postgres]')" if self._postgres else ""
            raise ConfigError(
                f"cannot use the prediction log at {self._safe_url}: {exc}. Install its "
                f"database driver{hint}."
            ) from exc
        postgres = self._postgres

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            if postgres and not durable:
                with dbapi_connection.cursor() as cursor:
                    cursor.execute("SET synchronous_commit TO OFF")
                dbapi_connection.commit()
            elif not postgres:
                cursor = dbapi_connection.cursor()
                try:
                    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_S * 1000}")
                    cursor.execute(f"PRAGMA synchronous = {'FULL' if durable else 'OFF'}")
                finally:
                    cursor.close()

        return engine

    def _create_tables(self) -> None:
        if self._postgres:
            with self._engine.begin() as conn:
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_CREATE_LOCK_KEY)))
                _metadata.create_all(conn)
            return
        try:
            _metadata.create_all(self._engine)
        except OperationalError as exc:  # another process created them meanwhile
            if "already exists" not in str(exc):
                raise
            _metadata.create_all(self._engine)

    # -- writing -------------------------------------------------------------------------

    def append(self, records: Sequence[PredictionRecord]) -> None:
        rows = []
        for record in records:
            try:
                dumps(record.inputs), dumps(record.outputs)
            except TypeError as exc:
                raise TypeError(
                    f"prediction {record.prediction_id!r} cannot be logged: {exc}"
                ) from exc
            rows.append(
                {
                    "prediction_id": record.prediction_id,
                    "timestamp": record.timestamp,
                    "model_name": record.model_name,
                    "model_version": record.model_version,
                    "route": record.route,
                    "latency_ms": float(record.latency_ms),
                    "inputs": record.inputs,
                    "outputs": record.outputs,
                }
            )
        if not rows:
            return
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(_predictions).on_conflict_do_nothing(
            index_elements=["prediction_id"]
        )
        with self._engine.begin() as conn:
            conn.execute(statement, rows)

    def _write_feedback(self, rows: Sequence[Feedback], received_at: datetime) -> None:
        values = [
            {
                "prediction_id": item.prediction_id,
                "label": item.label,
                "observed_at": item.observed_at,
                "received_at": received_at,
            }
            for item in rows
        ]
        with self._engine.begin() as conn:
            conn.execute(sa.insert(_feedback), values)

    # -- reading -------------------------------------------------------------------------

    def read(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        model_name: str | None = None,
        limit: int | None = None,
    ) -> pd.DataFrame:
        query = sa.select(*_PREDICTION_COLUMNS)
        if start is not None:
            query = query.where(_predictions.c.timestamp >= as_utc(start, "start"))
        if end is not None:
            query = query.where(_predictions.c.timestamp < as_utc(end, "end"))
        if model_name is not None:
            query = query.where(_predictions.c.model_name == model_name)
        if limit is not None:
            query = query.order_by(
                _predictions.c.timestamp.desc(), _predictions.c.prediction_id.desc()
            ).limit(limit)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return finish_predictions([self._frame(rows)], limit=limit)

    def get(self, ids: Sequence[str]) -> pd.DataFrame:
        rows: list[Any] = []
        with self._engine.connect() as conn:
            for chunk in _chunks(ids):
                query = sa.select(*_PREDICTION_COLUMNS).where(
                    _predictions.c.prediction_id.in_(chunk)
                )
                rows += conn.execute(query).all()
        return finish_predictions([self._frame(rows)], limit=None)

    def _known_ids(self, ids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        with self._engine.connect() as conn:
            for chunk in _chunks(ids):
                query = sa.select(_predictions.c.prediction_id).where(
                    _predictions.c.prediction_id.in_(chunk)
                )
                known.update(conn.execute(query).scalars())
        return known

    @staticmethod
    def _frame(rows: Sequence[Any]) -> pd.DataFrame:
        columns: dict[str, list[Any]] = {column.name: [] for column in _PREDICTION_COLUMNS}
        for row in rows:
            for column, value in zip(_PREDICTION_COLUMNS, row, strict=True):
                columns[column.name].append(_to_us(value) if column.name == "timestamp" else value)
        return prediction_frame(columns)

    def _read_feedback(self) -> pd.DataFrame:
        query = sa.select(
            _feedback.c.prediction_id,
            _feedback.c.label,
            _feedback.c.observed_at,
            _feedback.c.received_at,
        ).order_by(_feedback.c.id)
        columns: dict[str, list[Any]] = {
            "prediction_id": [],
            "label": [],
            "observed_at": [],
            "received_at": [],
        }
        with self._engine.connect() as conn:
            for pid, label, observed, received in conn.execute(query):
                columns["prediction_id"].append(pid)
                columns["label"].append(label)
                columns["observed_at"].append(_to_us(observed) if observed else None)
                columns["received_at"].append(_to_us(received))
        return feedback_frame(columns)

    def close(self) -> None:
        self._engine.dispose()


def _loads(value: Any) -> Any:
    # SQLite's JSON column has numeric affinity: a scalar label may come back as a number.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(ids))
    for at in range(0, len(unique), _IDS_PER_QUERY):
        yield unique[at : at + _IDS_PER_QUERY]
