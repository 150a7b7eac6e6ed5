"""The online store: the latest value of each feature view per entity, read at serving
time in well under a millisecond.

:func:`materialize <headway.features.materialize.materialize>` fills it from the views'
sources; the server reads it per request. Two backends share one contract, checked by one
conformance suite:

- :class:`SqliteOnlineStore`, the embedded default: one file, one table keyed by
  (view, entity key), WAL mode, one open connection and cached prepared statements;
- :class:`RedisOnlineStore` (``pip install 'headway[redis]'``): one hash per entity key,
  pipelined reads and writes.

The contract (:class:`BaseOnlineStore`):

- an entity key is the JSON of the view's join keys and their values, with sorted names
  (``{"customer_id":42}``); an integral float key is the same entity as the int
  (pandas turns int keys with gaps into floats);
- :meth:`~BaseOnlineStore.write` keeps the latest event time per entity key: a row older
  than the stored one does not replace it; a row at or after it replaces the whole row;
- :meth:`~BaseOnlineStore.read` answers in the order of the requested keys; a key
  without a value, or whose value is older than the TTL, comes back with missing values
  (:attr:`OnlineRead.found` False, :attr:`OnlineRead.stale` telling why);
- values round-trip as JSON: int, float, string, bool and null come back as written;
  timestamps come back as ISO 8601 strings.

:func:`open_online_store` turns ``None`` or a URL into a store.
"""

from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pandas as pd

from headway.exceptions import ConfigError, DataError
from headway.features.pit import utc_column
from headway.redact import redact_text, redact_uri

__all__ = [
    "BaseOnlineStore",
    "OnlineRead",
    "RedisOnlineStore",
    "SqliteOnlineStore",
    "open_online_store",
]

logger = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# SQLite binds at most 32766 variables per statement; reads are chunked well below that.
_READ_CHUNK = 500
_WRITE_CHUNK = 1000
# Built once: json.dumps with options builds an encoder per call, a third of a key's cost.
_KEY_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_VALUE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class OnlineRead:
    """The answer of :meth:`BaseOnlineStore.read`, one row per requested key, in order.

    Attributes:
        values: one object column per requested feature, each value as stored (int,
            float, str, bool) and ``None`` where missing (always where ``found`` is False).
        found: a value within the TTL came back for the key.
        stale: the store holds a value for the key, but it is older than the TTL, so it
            came back missing (``found`` is False).
        event_times: the event time (UTC) of each value that came back, else ``None``.
    """

    values: pd.DataFrame
    found: list[bool]
    stale: list[bool]
    event_times: list[datetime | None]


@dataclass(frozen=True)
class _Stored:
    """One entity's stored row: its event time (µs since the epoch) and its values."""

    event_us: int
    values: Mapping[str, Any]


# What a backend stores per entity: (entity key, event µs since the epoch, plain values).
_Item = tuple[str, int, dict[str, Any]]


class BaseOnlineStore(ABC):
    """The latest feature values per (view, entity key).

    Backends implement the primitives (``_upsert``, ``_lookup``, the join keys of a view,
    ``close``); key encoding, validation, deduplication and TTLs live here, once.
    """

    #: Whether a read crosses the network (a server reads such a store off its event loop).
    remote: bool = False

    def __init__(self) -> None:
        self._join_keys: dict[str, list[str]] = {}

    # -- the public contract --------------------------------------------------------------

    def write(
        self,
        view: str,
        rows: pd.DataFrame,
        *,
        keys: Sequence[str],
        features: Sequence[str],
        timestamp_column: str,
    ) -> int:
        """Upsert the latest row per entity key of ``rows`` into ``view``.

        Among rows of one key, the one with the latest timestamp is taken (the last one in
        ``rows`` on a tie). It replaces the stored row unless the stored one is newer.

        Args:
            view: the feature view's name.
            rows: the join keys, ``timestamp_column`` and the features.
            keys: the view's join key columns.
            features: the feature columns to store.
            timestamp_column: when each row's values became true (naive times are UTC).

        Returns:
            How many entity keys got a new value (rows older than the stored ones are not
            counted).

        Raises:
            DataError: ``rows`` lacks a column, a join key or a timestamp is missing, or a
                value is not JSON-serialisable (the message names the column).
        """
        what = f"online store write to view {view!r}"
        if not keys:
            raise DataError(f"{what}: no join keys given; pass keys=[...] (the view's join keys)")
        clash = sorted(set(keys) & set(features))
        if clash:
            raise DataError(f"{what}: {clash} are both join keys and features; keep them apart")
        needed = [*keys, timestamp_column, *features]
        missing = [c for c in needed if c not in rows.columns]
        if missing:
            raise DataError(
                f"{what}: rows lack the columns {missing} (they have {list(rows.columns)})"
            )
        self._save_join_keys_if_new(view, list(keys))
        if rows.empty:
            return 0
        stamps = utc_column(rows, timestamp_column, what)
        if stamps.isna().any():
            raise DataError(
                f"{what}: column {timestamp_column!r} has missing timestamps in "
                f"{int(stamps.isna().sum())} rows; drop them or fill them in"
            )
        event_us = ((stamps - pd.Timestamp(_EPOCH)) // pd.Timedelta(_US)).to_numpy(np.int64)
        key_records = _records(rows[list(keys)])
        latest: dict[str, int] = {}  # entity key -> index of its latest row
        for i in np.argsort(event_us, kind="stable"):
            latest[_entity_key(key_records[i], keys, what=what)] = int(i)
        value_records = _records(rows[list(features)].iloc[list(latest.values())])
        items = [
            (key, int(event_us[i]), {k: _plain(v) for k, v in values.items()})
            for (key, i), values in zip(latest.items(), value_records, strict=True)
        ]
        written = 0
        for start in range(0, len(items), _WRITE_CHUNK):
            written += self._upsert(view, items[start : start + _WRITE_CHUNK], what=what)
        return written

    def read(
        self,
        view: str,
        keys: Sequence[Mapping[str, Any]] | pd.DataFrame,
        *,
        features: Sequence[str],
        ttl: timedelta | None,
        now: datetime | None = None,
    ) -> OnlineRead:
        """The stored values of ``features`` for each of ``keys``, in their order.

        Args:
            view: the feature view's name.
            keys: one mapping per entity holding (at least) the view's join keys, or a
                frame with those columns; other entries are ignored.
            features: the features to return, as columns in this order.
            ttl: values older than ``now - ttl`` come back missing (``stale``); ``None``
                for no limit.
            now: the time the TTL counts back from (aware; default: the current time).

        Raises:
            DataError: a key lacks one of the view's join keys, or has a null one.
            ValueError: ``now`` has no time zone, or ``ttl`` is not above zero.

        Example:
            >>> store.read("profile", [{"customer_id": 42}], features=["plan"],  # doctest: +SKIP
            ...            ttl=timedelta(days=7)).values
        """
        if ttl is not None and ttl <= timedelta(0):
            raise ValueError(f"ttl must be above zero, got {ttl}; pass None for no limit")
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now={now.isoformat()} has no time zone; pass an aware datetime")
        records = _records(keys) if isinstance(keys, pd.DataFrame) else list(keys)
        features = list(features)
        join_keys = self._view_join_keys(view, records)
        stored: dict[str, _Stored] = {}
        wanted: list[str | None] = []
        if join_keys is not None:
            what = f"online store read of view {view!r}"
            wanted = [_entity_key(r, join_keys, what=what) for r in records]
            unique = list(dict.fromkeys(k for k in wanted if k is not None))
            for start in range(0, len(unique), _READ_CHUNK):
                stored.update(self._lookup(view, unique[start : start + _READ_CHUNK], features))
        else:
            wanted = [None] * len(records)
        oldest = None if ttl is None else (now - _EPOCH - ttl) // _US
        # Filled cell by cell into one object array: a frame built from it costs ~10 µs,
        # one built from lists of rows ~70 µs, most of a single-key read.
        cells = np.full((len(wanted), len(features)), None, dtype=object)
        found: list[bool] = []
        stale: list[bool] = []
        times: list[datetime | None] = []
        for i, key in enumerate(wanted):
            hit = stored.get(key) if key is not None else None
            too_old = hit is not None and oldest is not None and hit.event_us < oldest
            if hit is None or too_old:
                times.append(None)
            else:
                for j, name in enumerate(features):
                    cells[i, j] = hit.values.get(name)
                times.append(_EPOCH + hit.event_us * _US)
            found.append(hit is not None and not too_old)
            stale.append(too_old)
        # Object columns keep each value as stored (an int stays an int beside a missing
        # one); the model's contract coerces the dtypes at serving time.
        values = pd.DataFrame(
            cells, columns=pd.Index(features, dtype=object), copy=False, dtype=object
        )
        return OnlineRead(values=values, found=found, stale=stale, event_times=times)

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the store cannot be used afterwards."""

    def __enter__(self) -> BaseOnlineStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what a backend implements --------------------------------------------------------

    @abstractmethod
    def _upsert(self, view: str, items: Sequence[_Item], *, what: str) -> int:
        """Store each ``(entity key, event µs, values)`` unless the stored row is newer;
        return how many were stored. Values are plain (see :func:`_plain`); encode them
        with :func:`_json`."""

    @abstractmethod
    def _lookup(
        self, view: str, entity_keys: Sequence[str], features: Sequence[str]
    ) -> dict[str, _Stored]:
        """The stored rows of those of ``entity_keys`` that have one."""

    @abstractmethod
    def _load_join_keys(self, view: str) -> list[str] | None:
        """The join keys ``view`` was last written with, or ``None`` if never written."""

    @abstractmethod
    def _save_join_keys(self, view: str, keys: list[str]) -> None:
        """Record the join keys of ``view``."""

    # -- helpers --------------------------------------------------------------------------

    def _save_join_keys_if_new(self, view: str, keys: list[str]) -> None:
        known = self._join_keys.get(view) or self._load_join_keys(view)
        if known != keys:
            if known is not None:
                logger.warning(
                    "online store: view %s was keyed by %s, now by %s; values stored under "
                    "the old keys are no longer read",
                    view,
                    known,
                    keys,
                )
            self._save_join_keys(view, keys)
        self._join_keys[view] = keys

    def _view_join_keys(self, view: str, records: Sequence[Mapping[str, Any]]) -> list[str] | None:
        """The join keys of ``view`` (cached); reloaded once when a key lacks one of them, in
        case another process rewrote the view with other keys."""
        keys = self._join_keys.get(view)
        if keys is None or any(k not in r for r in records for k in keys):
            keys = self._load_join_keys(view)
            if keys is not None:
                self._join_keys[view] = keys
        return keys


def _entity_key(values: Mapping[str, Any], names: Sequence[str], *, what: str) -> str:
    """The canonical entity key: JSON of the join keys ``names`` and their values, sorted.

    Raises:
        DataError: ``values`` lacks a join key or holds a null one (named in the message).
    """
    out: dict[str, Any] = {}
    for name in names:
        if name not in values:
            raise DataError(
                f"{what}: a key lacks the join key {name!r} (it has {sorted(values)}); pass "
                f"every join key of the view: {list(names)}"
            )
        value = _plain(values[name])
        if value is None:
            raise DataError(f"{what}: join key {name!r} is null; every join key needs a value")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        out[name] = value
    return _KEY_JSON.encode(out)


def _plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/NA/NaT as ``None``,
    timestamps as ISO 8601 strings in UTC."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _json(value: Any, *, what: str) -> str:
    """``value`` as compact JSON; :class:`DataError` when JSON cannot hold it."""
    try:
        return _VALUE_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"{what}: a value JSON cannot hold: {exc}; store numbers, strings, "
            "booleans or timestamps"
        ) from exc


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (missing values as ``None``)."""
    plain = frame.astype(object)
    plain = plain.where(plain.notna(), None)
    return plain.to_dict(orient="records")


class SqliteOnlineStore(BaseOnlineStore):
    """The embedded online store: one SQLite file, WAL mode, one table for every view.

    One connection stays open (shared by threads under a lock); reads are one prepared
    ``IN (...)`` query per 500 keys.
    """

    _TABLE = "headway_online_features"
    _VIEWS = "headway_online_views"

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit; writes open their own transaction.
            self._con = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=256
            )
            self._con.execute("PRAGMA journal_mode=WAL")
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.execute("PRAGMA busy_timeout=5000")
            # Reads of random keys hit the B-tree's pages: keep them in memory.
            self._con.execute("PRAGMA cache_size=-65536")
            self._con.execute("PRAGMA mmap_size=268435456")
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {self._TABLE} (view TEXT NOT NULL, "
                "entity_key TEXT NOT NULL, event_us INTEGER NOT NULL, features TEXT NOT NULL, "
                "PRIMARY KEY (view, entity_key)) WITHOUT ROWID"
            )
            self._con.execute(
                f"CREATE TABLE IF NOT EXISTS {self._VIEWS} (view TEXT PRIMARY KEY, "
                "join_keys TEXT NOT NULL)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"online store {self.path}: cannot open it as SQLite: {exc}; check the path "
                "and its permissions"
            ) from exc
        self._upsert_sql = (
            f"INSERT INTO {self._TABLE} (view, entity_key, event_us, features) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (view, entity_key) DO UPDATE SET "
            "event_us = excluded.event_us, features = excluded.features "
            f"WHERE excluded.event_us >= {self._TABLE}.event_us"
        )

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _upsert(self, view: str, items: Sequence[_Item], *, what: str) -> int:
        params = [(view, key, us, _json(values, what=what)) for key, us, values in items]
        with self._lock:
            try:
                self._con.execute("BEGIN IMMEDIATE")
                before = self._con.total_changes
                self._con.executemany(self._upsert_sql, params)
                written = self._con.total_changes - before
                self._con.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._con.in_transaction:
                    self._con.execute("ROLLBACK")
                raise DataError(
                    f"online store {self.path}: write to view {view!r} failed: {exc}"
                ) from exc
        return written

    def _lookup(
        self, view: str, entity_keys: Sequence[str], features: Sequence[str]
    ) -> dict[str, _Stored]:
        if len(entity_keys) == 1:
            sql = (
                f"SELECT entity_key, event_us, features FROM {self._TABLE} "
                "WHERE view = ? AND entity_key = ?"
            )
        else:
            marks = ", ".join("?" * len(entity_keys))
            sql = (
                f"SELECT entity_key, event_us, features FROM {self._TABLE} "
                f"WHERE view = ? AND entity_key IN ({marks})"
            )
        with self._lock:
            try:
                rows = self._con.execute(sql, (view, *entity_keys)).fetchall()
            except sqlite3.Error as exc:
                raise DataError(
                    f"online store {self.path}: read of view {view!r} failed: {exc}"
                ) from exc
        return {key: _Stored(us, json.loads(payload)) for key, us, payload in rows}

    def _load_join_keys(self, view: str) -> list[str] | None:
        with self._lock:
            row = self._con.execute(
                f"SELECT join_keys FROM {self._VIEWS} WHERE view = ?", (view,)
            ).fetchone()
        return None if row is None else list(json.loads(row[0]))

    def _save_join_keys(self, view: str, keys: list[str]) -> None:
        with self._lock:
            self._con.execute(
                f"INSERT INTO {self._VIEWS} (view, join_keys) VALUES (?, ?) "
                "ON CONFLICT (view) DO UPDATE SET join_keys = excluded.join_keys",
                (view, json.dumps(keys)),
            )


# Replace the entity's hash unless it holds a newer event time. KEYS[1]: the hash;
# ARGV[1]: event time (µs since the epoch); ARGV[2..]: field, value, field, value, ...
_UPSERT_LUA = """
local old = redis.call('HGET', KEYS[1], 't')
if old and tonumber(old) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 't', ARGV[1], unpack(ARGV, 2))
return 1
"""


class RedisOnlineStore(BaseOnlineStore):
    """Redis as the online store (``pip install 'headway[redis]'``).

    One hash per entity, ``{prefix}:{view}:{entity key}``, with the event time in field
    ``t`` and each feature as JSON in field ``f:{name}``; a view's join keys in the hash
    ``{prefix}:views``. Many keys go in one pipeline; the newer-wins upsert is one Lua
    script per entity, so concurrent writers cannot put an older row back.
    """

    remote = True

    def __init__(self, url: str, *, prefix: str = "headway") -> None:
        super().__init__()
        try:
            import redis
        except ImportError as exc:
            raise ConfigError(
                f"online store {redact_uri(url)}: the redis client is not installed; "
                "pip install 'headway[redis]'"
            ) from exc
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self.url = redact_uri(url)
        self.prefix = prefix
        try:
            self._client = redis.Redis.from_url(url)
            self._client.ping()
        except (redis.RedisError, ValueError) as exc:
            raise ConfigError(
                f"online store {self.url}: cannot reach Redis: {redact_text(str(exc))}; check "
                "the host, port and password in the URL"
            ) from exc
        self._script = self._client.register_script(_UPSERT_LUA)

    def close(self) -> None:
        self._client.close()

    def _key(self, view: str, entity: str) -> str:
        return f"{self.prefix}:{view}:{entity}"

    def _upsert(self, view: str, items: Sequence[_Item], *, what: str) -> int:
        pipe = self._client.pipeline(transaction=False)
        for key, us, values in items:
            args: list[Any] = [us]
            for name, value in values.items():
                args += [f"f:{name}", _json(value, what=what)]
            self._script(keys=[self._key(view, key)], args=args, client=pipe)
        return sum(int(n) for n in self._run(pipe, view, "write"))

    def _lookup(
        self, view: str, entity_keys: Sequence[str], features: Sequence[str]
    ) -> dict[str, _Stored]:
        fields = ["t", *(f"f:{name}" for name in features)]
        pipe = self._client.pipeline(transaction=False)
        for key in entity_keys:
            pipe.hmget(self._key(view, key), fields)
        out: dict[str, _Stored] = {}
        for key, answer in zip(entity_keys, self._run(pipe, view, "read"), strict=True):
            if answer[0] is None:
                continue
            values = {
                name: json.loads(raw)
                for name, raw in zip(features, answer[1:], strict=True)
                if raw is not None
            }
            out[key] = _Stored(int(answer[0]), values)
        return out

    def _load_join_keys(self, view: str) -> list[str] | None:
        try:
            raw = self._client.hget(f"{self.prefix}:views", view)
        except self._errors as exc:
            raise DataError(
                f"online store {self.url}: read of view {view!r} failed: {exc}"
            ) from exc
        return None if raw is None else list(json.loads(raw))

    def _save_join_keys(self, view: str, keys: list[str]) -> None:
        try:
            self._client.hset(f"{self.prefix}:views", view, json.dumps(keys))
        except self._errors as exc:
            raise DataError(
                f"online store {self.url}: write to view {view!r} failed: {exc}"
            ) from exc

    def _run(self, pipe: Any, view: str, action: str) -> Iterable[Any]:
        try:
            return list(pipe.execute())
        except self._errors as exc:
            where = "to" if action == "write" else "of"
            raise DataError(
                f"online store {self.url}: {action} {where} view {view!r} failed: "
                f"{redact_text(str(exc))}"
            ) from exc


def open_online_store(url: str | None, default_path: Path) -> BaseOnlineStore:
    """The online store at ``url``.

    Args:
        url: ``None`` (or blank): SQLite at ``default_path``; ``sqlite:///PATH``: SQLite
            at PATH (``sqlite:////abs/path`` for an absolute one); ``redis://[:PASSWORD@]HOST
            [:PORT][/DB]`` or ``rediss://...``: Redis.
        default_path: the embedded store's file.

    Raises:
        ConfigError: the URL is of an unknown kind, or its store cannot be opened or
            reached (any password in the URL is masked in the message).

    Example:
        >>> path = project_dir / ".headway" / "online.db"
        >>> with open_online_store(None, path) as store:  # doctest: +SKIP
        ...     store.read("profile", [{"customer_id": 42}], features=["plan"], ttl=None)
    """
    if url is None or not url.strip():
        return SqliteOnlineStore(Path(default_path))
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] if url.lower().startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(
                f"online store {redact_uri(url)!r}: a SQLite URL needs a file: sqlite:///PATH "
                "(relative) or sqlite:////ABSOLUTE/PATH"
            )
        return SqliteOnlineStore(Path(path))
    if scheme in ("redis", "rediss"):
        return RedisOnlineStore(url)
    raise ConfigError(
        f"online store {redact_uri(url)!r}: unknown scheme {scheme or '(none)'!r}; use null "
        "(SQLite in the project), 'sqlite:///PATH' or 'redis://HOST:PORT/DB'"
    )
