"""Point-in-time correct training sets: each entity row gets the feature values that were
true at its timestamp, never later ones.

For every row of the entity table (join keys, an event timestamp, usually the label) and
every feature view of the service, :func:`historical_features` takes the view's latest row
with the same keys whose timestamp is at or before the entity row's, and within the view's
TTL; among rows of one timestamp, the one with the latest created timestamp. A row without
such a match keeps its place with missing values. These are the semantics of Feast's
``get_historical_features``; the differences are listed in docs/concepts.md ("Feature
store").

It is one DuckDB query: per view, the source deduplicated on (keys, timestamp) by the
created timestamp, then an ``ASOF LEFT JOIN`` on the keys and ``entity time >= view
time``; a value older than the TTL is nulled (the ASOF match is the latest one, so an older
match would be older still). No row-by-row Python.

Timestamps are compared in UTC: a column without a time zone is read as UTC; an entity
table that mixes naive and aware timestamps is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from headway.exceptions import DataError
from headway.features.definitions import FeatureDefinitions, FeatureView, apply_on_demand

__all__ = [
    "cast_declared",
    "check_sources",
    "historical_features",
    "quote_ident",
    "source_sql",
    "utc_column",
    "view_relation",
]


# Declared feature types -> the pandas dtype both the training set and the online store use
# (strings and timestamps are kept as the source gives them).
_DTYPES = {"int": "Int64", "float": "float64", "bool": "boolean"}


def cast_declared(frame: pd.DataFrame, view: FeatureView, features: Sequence[str]) -> None:
    """Cast ``features`` of ``view`` in ``frame`` (in place) to their declared types, so
    that training and serving see the same values.

    Raises:
        DataError: a value does not fit its declared type (naming the view and feature).
    """
    declared = {f.name: f.type for f in view.features}
    for name in features:
        dtype = _DTYPES.get(declared.get(name, ""))
        if dtype is None or name not in frame.columns:
            continue
        try:
            frame[name] = frame[name].astype(dtype)
        except (TypeError, ValueError) as exc:
            raise DataError(
                f"feature view {view.name}: feature {name!r} is declared {declared[name]} but "
                f"its values are not: {exc}; fix the source or the declared type"
            ) from exc


def quote_ident(name: str) -> str:
    """``name`` as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_sql(view: FeatureView, root: Path) -> str:
    """The DuckDB relation of a view's source (a ``read_*`` call or the query)."""
    source = view.source
    if source.type == "sql":
        return f"({source.query})"
    path = Path(source.path or "")
    path = path if path.is_absolute() else root / path
    reader = "read_parquet" if source.type == "parquet" else "read_csv_auto"
    return f"{reader}({_literal(str(path))})"


def utc_column(frame: pd.DataFrame, column: str, what: str) -> pd.Series:
    """``frame[column]`` as UTC timestamps (naive ones read as UTC).

    Raises:
        DataError: the column mixes naive and aware timestamps, or is not timestamps
            (``what`` names the table in the message).
    """
    values = frame[column]
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = pd.to_datetime(values)
        return stamps.dt.tz_convert("UTC") if stamps.dt.tz else stamps.dt.tz_localize("UTC")
    kinds = {
        "aware" if getattr(v, "tzinfo", None) is not None else "naive"
        for v in values.dropna()
        if hasattr(v, "year")
    }
    if kinds == {"aware", "naive"}:
        raise DataError(
            f"{what}: column {column!r} mixes timestamps with and without a time zone; give "
            "them all in UTC (or all with their zone)"
        )
    try:
        return pd.to_datetime(values, utc=True)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: column {column!r} is not a timestamp: {exc}") from exc


def historical_features(
    entities: pd.DataFrame,
    definitions: FeatureDefinitions,
    service: str,
    *,
    root: Path,
    timestamp_column: str = "event_timestamp",
) -> pd.DataFrame:
    """The entity table with the service's features as of each row's timestamp.

    Args:
        entities: join keys of every view of the service, ``timestamp_column``, and any
            other columns (the label), kept as they are.
        definitions: the project's feature definitions.
        service: the feature service to fetch.
        root: the project directory (relative source paths start there).
        timestamp_column: the entity table's event-time column.

    Returns:
        The rows of ``entities`` in their order, with one column per feature.

    Raises:
        DataError: the entity table lacks a key or the timestamp, its timestamps mix naive
            and aware values, a source cannot be read or lacks a declared column (the
            message names the view and the column), or a feature name is already a column
            of the entity table.
        ValueError: an unknown service (see :meth:`FeatureDefinitions.resolve`).
    """
    import duckdb

    chosen = definitions.resolve(service)
    what = "entity table"
    if timestamp_column not in entities.columns:
        raise DataError(
            f"{what}: no timestamp column {timestamp_column!r} (columns: "
            f"{list(entities.columns)}); name it with timestamp_column"
        )
    for view, features in chosen:
        missing = [k for k in definitions.join_keys(view) if k not in entities.columns]
        if missing:
            raise DataError(
                f"{what}: feature view {view.name} joins on {missing}, which the entity table lacks"
            )
        taken = [f for f in features if f in entities.columns]
        if taken:
            raise DataError(
                f"{what}: columns {taken} are also features of view {view.name}; drop or "
                "rename them"
            )
    frame = entities.reset_index(drop=True).copy()
    frame[timestamp_column] = utc_column(frame, timestamp_column, what)
    frame["__row"] = range(len(frame))

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("__entities", frame)
        selects = ["e.*"]
        joins = []
        for i, (view, features) in enumerate(chosen):
            alias = f"v{i}"
            keys = definitions.join_keys(view)
            relation = view_relation(con, view, keys, features, root)
            on = " AND ".join(f"e.{quote_ident(k)} = {alias}.{quote_ident(k)}" for k in keys)
            joins.append(
                f"ASOF LEFT JOIN {relation} AS {alias} ON {on} AND "
                f"CAST(e.{quote_ident(timestamp_column)} AS TIMESTAMPTZ) >= {alias}.__ts"
            )
            ttl = view.ttl_delta
            for f in features:
                value = f"{alias}.{quote_ident(f)}"
                if ttl is not None:
                    seconds = int(ttl.total_seconds())
                    value = (
                        f"CASE WHEN {alias}.__ts >= CAST(e.{quote_ident(timestamp_column)} AS "
                        f"TIMESTAMPTZ) - INTERVAL {seconds} SECOND THEN {value} END"
                    )
                selects.append(f"{value} AS {quote_ident(f)}")
        query = (
            f"SELECT {', '.join(selects)} FROM __entities AS e {' '.join(joins)} ORDER BY e.__row"
        )
        try:
            out = con.execute(query).df()
        except duckdb.Error as exc:
            raise DataError(f"point-in-time join of service {service} failed: {exc}") from exc
    finally:
        con.close()
    out = out.drop(columns="__row")
    for view, features in chosen:
        cast_declared(out, view, features)
    on_demand = definitions.on_demand(service)
    if on_demand:
        out = apply_on_demand(out, on_demand)
    out[timestamp_column] = pd.to_datetime(out[timestamp_column], utc=True)
    return out


def view_relation(
    con: Any, view: FeatureView, keys: Sequence[str], features: Sequence[str], root: Path
) -> str:
    """The view's rows, deduplicated on (keys, timestamp) by the created timestamp, as a
    subquery with ``__ts`` (UTC); shared by the training join and materialization so that
    both pick the same row.

    Raises:
        DataError: the source cannot be read or lacks a declared column.
    """
    import duckdb

    source = source_sql(view, root)
    try:
        columns = [str(c[0]) for c in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    except duckdb.Error as exc:
        raise DataError(f"feature view {view.name}: cannot read its source: {exc}") from exc
    needed = [*keys, view.timestamp_column, *features]
    if view.created_timestamp_column:
        needed.append(view.created_timestamp_column)
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"feature view {view.name}: its source lacks the declared columns {missing} "
            f"(it has {columns})"
        )
    ts = f"CAST({quote_ident(view.timestamp_column)} AS TIMESTAMPTZ)"
    cols = ", ".join(quote_ident(c) for c in [*keys, *features])
    rows = (
        f"SELECT {cols}, {ts} AS __ts FROM {source} WHERE {quote_ident(view.timestamp_column)} "
        "IS NOT NULL"
    )
    if not view.created_timestamp_column:
        # Without a created timestamp, rows of one key and time are equally valid (Feast
        # picks any of them too): no deduplication, no sort.
        return f"({rows})"
    order = f"CAST({quote_ident(view.created_timestamp_column)} AS TIMESTAMPTZ) DESC NULLS LAST"
    partition = ", ".join([*(quote_ident(k) for k in keys), ts])
    return f"({rows} QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY {order}) = 1)"


def check_sources(definitions: FeatureDefinitions, *, root: Path) -> None:
    """Read the schema of every view's source and check its declared columns.

    Raises:
        DataError: a source cannot be read, or lacks a join key, the timestamp, the
            created timestamp or a feature (the message names the view and the columns).
    """
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for view in definitions.feature_views:
            view_relation(con, view, definitions.join_keys(view), view.feature_names, root)
    finally:
        con.close()
