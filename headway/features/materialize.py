"""Materialization: copy the latest value per entity from the views' sources into the
online store.

For each view, one DuckDB query takes the rows with ``start <= timestamp < end``, the
latest one per entity key (among rows of one timestamp, the one with the latest created
timestamp, as in the point-in-time join of :mod:`headway.features.pit`), and the result
is upserted with :meth:`BaseOnlineStore.write
<headway.features.online.BaseOnlineStore.write>`, which keeps a newer stored value.
Every view is read before any is written, so a source that fails leaves the store as it
was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from headway.exceptions import ConfigError, DataError
from headway.features.definitions import FeatureDefinitions, FeatureView
from headway.features.online import BaseOnlineStore
from headway.features.pit import cast_declared, quote_ident, view_relation

__all__ = ["materialize"]

logger = logging.getLogger(__name__)

_TS = "__ts"
# The pandas dtype of each declared feature type: nullable, so an int with a gap stays an
# int in the store; timestamps are stored as ISO 8601 strings by the store.


def materialize(
    definitions: FeatureDefinitions,
    store: BaseOnlineStore,
    *,
    root: Path,
    views: Sequence[str] | None = None,
    start: datetime | None,
    end: datetime,
) -> dict[str, int]:
    """Write the latest row per entity key with ``start <= timestamp < end`` of each view
    into ``store``.

    Args:
        definitions: the project's feature definitions.
        store: the online store to fill.
        root: the project directory (relative source paths start there).
        views: the views to materialize, by name; ``None`` for all of them.
        start: the earliest event time taken (aware); ``None`` for the beginning.
        end: the first event time no longer taken (aware), usually now.

    Returns:
        How many entity keys got a new value, per view (a value older than the stored one
        is not written, nor counted).

    Raises:
        ConfigError: an unknown view (the message lists the known ones).
        ValueError: ``start`` or ``end`` has no time zone, or ``start`` is not before ``end``.
        DataError: a source cannot be read or lacks a declared column (the message names
            the view and the columns); nothing was written then.

    Example:
        >>> with open_online_store(None, path) as store:  # doctest: +SKIP
        ...     materialize(definitions, store, root=project_dir, start=None, end=now)
        {'customer_profile': 5000}
    """
    import duckdb

    for name, when in (("start", start), ("end", end)):
        if when is not None and (when.tzinfo is None or when.utcoffset() is None):
            raise ValueError(
                f"{name}={when.isoformat()} has no time zone; pass an aware datetime "
                "(datetime(..., tzinfo=UTC))"
            )
    if start is not None and start >= end:
        raise ValueError(
            f"start ({start.isoformat()}) must be before end ({end.isoformat()}); the window "
            "is start <= timestamp < end"
        )
    chosen = _choose(definitions, views)

    frames: dict[str, pd.DataFrame] = {}
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        for view in chosen:
            frames[view.name] = _latest(con, definitions, view, root=root, start=start, end=end)
    finally:
        con.close()

    written: dict[str, int] = {}
    for view in chosen:
        written[view.name] = store.write(
            view.name,
            frames[view.name],
            keys=definitions.join_keys(view),
            features=view.feature_names,
            timestamp_column=_TS,
        )
        logger.info(
            "materialized view %s: %d of %d entities written",
            view.name,
            written[view.name],
            len(frames[view.name]),
        )
    return written


def _choose(definitions: FeatureDefinitions, views: Sequence[str] | None) -> list[FeatureView]:
    if views is None:
        return list(definitions.feature_views)
    if isinstance(views, str):
        views = [views]
    known = {v.name for v in definitions.feature_views}
    unknown = [v for v in views if v not in known]
    if unknown:
        raise ConfigError(
            f"materialize: no feature view {', '.join(map(repr, unknown))}; known: "
            f"{sorted(known)} (declare it in features.yaml or fix the name)"
        )
    return [definitions.view(name) for name in dict.fromkeys(views)]


def _latest(
    con: Any,
    definitions: FeatureDefinitions,
    view: FeatureView,
    *,
    root: Path,
    start: datetime | None,
    end: datetime,
) -> pd.DataFrame:
    """The view's latest row per entity key within the window, with ``__ts`` (UTC)."""
    import duckdb

    keys = definitions.join_keys(view)
    # Deduplicated on (keys, timestamp) by the created timestamp, with the columns checked.
    relation = view_relation(con, view, keys, view.feature_names, root)
    where = [f"{quote_ident(k)} IS NOT NULL" for k in keys] + [f"{_TS} < ?"]
    params: list[datetime] = [end]
    if start is not None:
        where.append(f"{_TS} >= ?")
        params.append(start)
    query = (
        f"SELECT * FROM {relation} AS r WHERE {' AND '.join(where)} "
        f"QUALIFY row_number() OVER (PARTITION BY {', '.join(map(quote_ident, keys))} "
        f"ORDER BY {_TS} DESC) = 1"
    )
    try:
        frame: pd.DataFrame = con.execute(query, params).df()
    except duckdb.Error as exc:
        raise DataError(f"feature view {view.name}: cannot read its source: {exc}") from exc
    cast_declared(frame, view, view.feature_names)
    return frame
