"""Profiling a user's table: which task, id, timestamp and excluded columns, and why.

:func:`profile_table` is a pure function over a DataFrame; it returns a
:class:`TableProfile` in which every decision carries its reason, for ``headway init
--data`` to write next to each key of ``headway.yaml``. Choices that the data cannot settle
(two date/time columns, a numeric target with few distinct values) raise
:class:`~headway.exceptions.ConfigError` naming the flag that settles them: they are never
guessed.

:func:`read_profile_sample` reads the rows to profile: the whole table when its files are
small, else a seeded sample of :data:`PROFILE_ROWS` rows.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_float_dtype,
    is_integer_dtype,
    is_numeric_dtype,
)

from headway.config import SourceConfig
from headway.data.sources import locate, read_source
from headway.exceptions import ConfigError, DataError
from headway.tasks import TASKS

__all__ = [
    "LEAKAGE_SCORE",
    "PROFILE_ROWS",
    "Decision",
    "Exclusion",
    "TableProfile",
    "profile_table",
    "read_profile_sample",
]

PROFILE_ROWS = 100_000  # rows profiled at most; the project still reads the whole table
_SAMPLE_ABOVE_BYTES = 256 << 20  # larger sources are sampled by DuckDB instead of read whole
MAX_AMBIGUOUS_VALUES = 20  # a numeric target with at most this many values: classes or number?
MAX_TEXT_CLASSES = 50  # a text target with more values is not taken for classes by default
MAX_CLASSES = 200  # what validation accepts for task multiclass
LEAKAGE_SCORE = 0.99  # single-column score (AUC, balanced accuracy, R²) that flags leakage
_LEAKAGE_ROWS = 20_000
_LEAKAGE_MIN_ROWS = 50
_NEAR_UNIQUE = 0.9  # share of distinct values that makes a text column free text
_TEXT_MIN_DISTINCT = 20
_TIME_SPLIT = "a time-based split (train on the past, test on the most recent rows)"
_DATE = re.compile(
    r"^\s*(\d{4}-\d{1,2}-\d{1,2}|\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}"
    r"|\d{1,2}-[A-Za-z]{3}-\d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|UTC|[+-]\d{2}:?\d{2})?\s*$"
)
_ID_NAME = re.compile(r"^(id|key|uuid|guid)$|[_\-\s](id|key|uuid|guid)$", re.I)
_ID_NAME_CASED = re.compile(r"[a-z0-9](ID|Id)$")


@dataclass(frozen=True)
class Decision:
    """One inferred choice: the value (``None``: not set) and why, in one line."""

    value: str | None
    reason: str


@dataclass(frozen=True)
class Exclusion:
    """A column kept out of the features, and why."""

    column: str
    reason: str


@dataclass(frozen=True)
class TableProfile:
    """What ``headway init --data`` inferred from a table.

    Attributes:
        target: the column to predict.
        task: ``binary``, ``multiclass``, ``regression`` or ``forecast``, and why.
        id_column: the unique row key (not a feature), or ``None``, and why.
        timestamp_column: the event time (time-based split), or ``None``, and why.
        series_columns: forecasting: the columns that name one series.
        exclusions: columns that must not be features, each with its reason.
        n_rows: rows profiled.
        n_columns: columns of the table.
        sampled: whether the rows are a sample of a larger table.
    """

    target: str
    task: Decision
    id_column: Decision
    timestamp_column: Decision
    series_columns: tuple[str, ...]
    exclusions: tuple[Exclusion, ...]
    n_rows: int
    n_columns: int
    sampled: bool = False

    @property
    def split(self) -> str:
        """The holdout the project will use, in words."""
        if self.timestamp_column.value is not None:
            stamp = self.timestamp_column.value
            return f"time-based on {stamp!r} (the most recent rows are the test set)"
        key = self.id_column.value
        on = f"{key!r}" if key is not None else "each row's content"
        return f"by a seeded hash of {on} (a row keeps its part as the data grows)"


def read_profile_sample(
    source: SourceConfig,
    *,
    root: Path,
    max_rows: int = PROFILE_ROWS,
    sample_above_bytes: int = _SAMPLE_ABOVE_BYTES,
) -> tuple[pd.DataFrame, bool]:
    """The table to profile, and whether it is only a sample of it.

    Files up to ``sample_above_bytes`` (and every SQL query) are read whole with the reader
    ``headway run`` uses (:func:`~headway.data.sources.read_source`), so the profile sees the
    same types; the caller profiles at most :data:`PROFILE_ROWS` of those rows. Larger files
    are sampled by DuckDB (``USING SAMPLE reservoir``, seeded: ``max_rows`` rows) without
    reading them into memory.

    Raises:
        DataError: the source cannot be found or parsed.
    """
    files = locate(source, root=root)
    size = sum(p.stat().st_size for p in files.files) if files else 0
    if files is not None and size > sample_above_bytes and source.encoding.lower() == "utf-8":
        return _duckdb_sample(source, files.files, max_rows), True
    return read_source(source, root=root, files=files), False


def _duckdb_sample(source: SourceConfig, files: Sequence[Path], max_rows: int) -> pd.DataFrame:
    import duckdb

    paths = [str(p) for p in files]
    reader = (
        "read_csv($files, delim = $delim, header = true)"
        if source.type == "csv"
        else "read_parquet($files)"
    )
    params: dict[str, object] = {"files": paths}
    if source.type == "csv":
        params["delim"] = source.delimiter
    query = f"SELECT * FROM {reader} USING SAMPLE reservoir({int(max_rows)} ROWS) REPEATABLE (0)"
    try:
        con = duckdb.connect(":memory:")
        try:
            return con.execute(query, params).df()
        finally:
            con.close()
    except duckdb.Error as exc:
        raise DataError(f"{paths[0]}: cannot be read: {str(exc).splitlines()[0]}") from exc


def profile_table(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str = "auto",
    timestamp: str = "auto",
    id_column: str = "auto",
    series: Sequence[str] = (),
    sampled: bool = False,
    now: datetime | None = None,
) -> TableProfile:
    """Infer the task, id, timestamp and excluded columns of ``frame``, each with its reason.

    Args:
        frame: the table, or a sample of it.
        target: the column to predict.
        task: ``auto`` or a task to check against the target.
        timestamp: ``auto``, a column, or ``none``.
        id_column: ``auto``, a column, or ``none``.
        series: forecasting: the columns that name one series.
        sampled: ``frame`` is a sample (said in the reasons).
        now: the present, for timestamps in the future (default: the clock).

    Raises:
        ConfigError: a flag does not fit the table (unknown column or task, a task the target
            cannot have) or a choice is ambiguous; the message names the flag that settles it.
        DataError: the target is empty or holds one value.
    """
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    _require_column(target, columns, "--target")
    task_decision = _infer_task(frame[target], task)
    chosen_task = str(task_decision.value)
    series = tuple(series)
    if series and chosen_task != "forecast":
        raise ConfigError(
            "--series applies to --task forecast only; remove it or add --task forecast."
        )
    for column in series:
        _require_column(column, columns, "--series")
    excluded: dict[str, str] = {}
    stamp = _infer_timestamp(frame, target, timestamp, excluded, now or datetime.now(UTC))
    if chosen_task == "forecast":
        _check_forecast(frame, stamp.value, series)
    ident = _infer_id(frame, target, id_column, {stamp.value, *series}, excluded)
    taken = {target, ident.value, stamp.value, *series, *excluded}
    for column in columns:
        if column not in taken:
            reason = _exclusion(frame[column], column, target)
            if reason is not None:
                excluded[column] = reason
    leaks = _leakage(
        frame,
        target,
        chosen_task,
        [c for c in columns if c not in taken and c not in excluded],
    )
    excluded.update(leaks)
    return TableProfile(
        target=target,
        task=task_decision,
        id_column=ident,
        timestamp_column=stamp,
        series_columns=series,
        exclusions=tuple(Exclusion(c, excluded[c]) for c in columns if c in excluded),
        n_rows=len(frame),
        n_columns=len(columns),
        sampled=sampled,
    )


def _require_column(column: str, columns: list[str], flag: str) -> None:
    if column in columns:
        return
    close = difflib.get_close_matches(column, columns, n=3)
    lowered = [c for c in columns if c.lower() == column.lower()]
    close = list(dict.fromkeys([*lowered, *close]))
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(columns[:30]) + (", ..." if len(columns) > 30 else "")
    raise ConfigError(f"column {column!r} ({flag}) is not in the data.{hint} Columns are: {shown}.")


def _shown(values: Sequence[object], limit: int = 5) -> str:
    text = ", ".join(str(v) for v in list(values)[:limit])
    return text + (", ..." if len(values) > limit else "")


def _is_number(series: pd.Series) -> bool:
    return is_numeric_dtype(series) and not is_bool_dtype(series)


def _integral(series: pd.Series) -> bool:
    values = series.dropna()
    if is_integer_dtype(values):
        return True
    return is_float_dtype(values) and bool((values == values.round()).all())


def _infer_task(target: pd.Series, task: str) -> Decision:
    name = str(target.name)
    if task != "auto" and task not in TASKS:
        raise ConfigError(f"unknown task {task!r} (--task); choose auto, {', '.join(TASKS)}.")
    values = target.dropna()
    if values.empty:
        raise DataError(
            f"target column {name!r} (--target) has only missing values; "
            "point --target at the column that holds the outcome."
        )
    distinct = sorted(values.unique().tolist(), key=str)
    n = len(distinct)
    if n == 1:
        raise DataError(
            f"target column {name!r} (--target) holds one value ({distinct[0]!r}) in every row: "
            "there is nothing to predict. Point --target at the outcome column, or add rows "
            "with other outcomes."
        )
    numeric = _is_number(values)
    kind = "numeric" if numeric else "bool" if is_bool_dtype(values) else "text"
    if task == "auto":
        if n == 2:
            return Decision("binary", f"target {name!r} has two values: {_shown(distinct)}")
        if not numeric:
            if n <= MAX_TEXT_CLASSES:
                return Decision(
                    "multiclass", f"target {name!r} holds {n} text values: {_shown(distinct)}"
                )
            raise ConfigError(
                f"target {name!r} holds {n} distinct text values ({_shown(distinct)}): too many "
                f"to take for classes without asking. Pass --task multiclass if each is a class "
                f"(at most {MAX_CLASSES}), or choose another --target."
            )
        if n <= MAX_AMBIGUOUS_VALUES:
            raise ConfigError(
                f"target {name!r} is numeric with only {n} distinct values ({_shown(distinct)}): "
                "classes or a quantity? Pass --task multiclass (each value is a class) or "
                "--task regression (a number to predict)."
            )
        low, high = float(values.min()), float(values.max())
        return Decision(
            "regression",
            f"target {name!r} is numeric with {n} distinct values, from {low:g} to {high:g}",
        )
    if task == "binary" and n != 2:
        raise ConfigError(
            f"--task binary needs a target with exactly two values; {name!r} has {n} "
            f"({_shown(distinct)}). Use --task multiclass or --task auto."
        )
    if task == "multiclass" and n > MAX_CLASSES:
        raise ConfigError(
            f"--task multiclass allows at most {MAX_CLASSES} classes; {name!r} has {n}. "
            "Use --task regression if it is a number, or choose another --target."
        )
    if task in ("regression", "forecast") and not numeric:
        raise ConfigError(
            f"--task {task} needs a numeric target; {name!r} holds {kind} values "
            f"({_shown(distinct)}). Use --task binary or --task multiclass, or --task auto."
        )
    return Decision(task, f"--task {task}: target {name!r} has {n} distinct values")


def _date_like(series: pd.Series) -> bool:
    """Whether a column holds dates: a datetime dtype, or text in which every non-null value
    reads as a date (and at least 95% of rows have one)."""
    if is_datetime64_any_dtype(series):
        return True
    if _is_number(series) or is_bool_dtype(series):
        return False
    values = series.dropna()
    if values.empty or len(values) < 0.95 * len(series):
        return False
    text = values.astype(str)
    probe = text.head(1000)
    if not probe.str.match(_DATE).all() or not text.str.match(_DATE).all():
        return False
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _as_datetime(series: pd.Series) -> pd.Series:
    if is_datetime64_any_dtype(series):
        return series.dt.tz_localize("UTC") if series.dt.tz is None else series.dt.tz_convert("UTC")
    return pd.to_datetime(series, utc=True, errors="coerce", format="mixed")


def _infer_timestamp(
    frame: pd.DataFrame, target: str, timestamp: str, excluded: dict[str, str], now: datetime
) -> Decision:
    columns = [c for c in frame.columns if c != target]
    dated = [c for c in columns if _date_like(frame[c])]
    limit = pd.Timestamp(now + timedelta(days=1))
    future = {c for c in dated if bool((_as_datetime(frame[c]) > limit).any())}
    if timestamp == "none":
        for column in dated:
            excluded[column] = "a date/time column and --timestamp none: a raw date is no feature"
        return Decision(None, "--timestamp none: a hash-based split")
    if timestamp != "auto":
        _require_column(timestamp, [str(c) for c in frame.columns], "--timestamp")
        if timestamp not in dated:
            example = frame[timestamp].dropna().astype(str).head(3).tolist()
            raise ConfigError(
                f"column {timestamp!r} (--timestamp) does not hold dates (e.g. "
                f"{_shown(example)}); use ISO 8601 dates such as 2024-05-01 or "
                "2024-05-01T12:00:00Z, or --timestamp none."
            )
        if timestamp in future:
            raise ConfigError(
                f"column {timestamp!r} (--timestamp) has dates after today: not the time of an "
                "event that happened. Name another column, or --timestamp none."
            )
        chosen = timestamp
        reason = f"--timestamp {timestamp}: {_TIME_SPLIT}"
    else:
        candidates = [c for c in dated if c not in future]
        for column in future:
            excluded[column] = "dates after today: not an event time, and a raw date is no feature"
        if len(candidates) > 1:
            raise ConfigError(
                f"the data has {len(candidates)} date/time columns ({', '.join(candidates)}): "
                "which one is the time of each row? Pass --timestamp COLUMN (e.g. --timestamp "
                f"{candidates[0]}), or --timestamp none for a hash-based split."
            )
        if not candidates:
            return Decision(None, "no date/time column: a hash-based split")
        chosen = candidates[0]
        reason = f"the only date/time column: {_TIME_SPLIT}"
    for column in dated:
        if column != chosen and column not in excluded:
            excluded[column] = (
                f"a date/time column besides the timestamp {chosen!r}: a raw date is no feature"
            )
    return Decision(chosen, reason)


def _check_forecast(frame: pd.DataFrame, timestamp: str | None, series: tuple[str, ...]) -> None:
    if timestamp is None:
        raise ConfigError(
            "--task forecast needs the period of each row: pass --timestamp COLUMN "
            "(and --series COL,COL when the table holds several series)."
        )
    keys = [timestamp, *series]
    if frame.duplicated(subset=keys).any():
        others = [
            c
            for c in frame.columns
            if c not in keys and not _is_number(frame[c]) and frame[c].nunique() < len(frame) / 2
        ]
        hint = f" (e.g. --series {','.join(others[:2])})" if others else ""
        named = f"{timestamp!r} and {', '.join(series)}" if series else repr(timestamp)
        raise ConfigError(
            f"--task forecast: several rows share the same {named}; name the columns that tell "
            f"one series from another with --series COL,COL{hint}."
        )


def _unique_key(series: pd.Series) -> bool:
    if series.isna().any() or is_datetime64_any_dtype(series) or is_bool_dtype(series):
        return False
    if _is_number(series) and not _integral(series):
        return False
    return bool(series.is_unique)


def _infer_id(
    frame: pd.DataFrame,
    target: str,
    id_column: str,
    reserved: set[str | None],
    excluded: dict[str, str],
) -> Decision:
    columns = [c for c in frame.columns if c != target and c not in reserved and c not in excluded]
    if id_column == "none":
        return Decision(None, "--id none")
    if id_column != "auto":
        _require_column(id_column, [str(c) for c in frame.columns], "--id")
        values = frame[id_column]
        if values.isna().any() or not values.is_unique:
            dupes = int(values.duplicated().sum())
            raise ConfigError(
                f"column {id_column!r} (--id) is not a unique row key ({dupes} repeated value(s), "
                f"{int(values.isna().sum())} missing); name another column, or --id none."
            )
        return Decision(id_column, f"--id {id_column}: unique per row; never a feature")
    keys = [c for c in columns if _unique_key(frame[c])]
    named = [c for c in keys if _ID_NAME.search(c) or _ID_NAME_CASED.search(c)]
    counters = [
        c
        for c in keys
        if _is_number(frame[c]) and frame[c].is_monotonic_increasing and len(frame) >= 20
    ]
    codes = [
        c
        for c in keys
        if not _is_number(frame[c])
        and len(frame) >= 20
        and not frame[c].astype(str).str.contains(r"\s").any()
        and frame[c].astype(str).str.len().max() <= 64
    ]
    if named:
        chosen = named[0]
        reason = "unique per row and named like an id: a row key, never a feature"
    elif counters:
        chosen = counters[0]
        reason = "unique whole numbers increasing with the row order: a row number, never a feature"
    elif codes:
        chosen = codes[0]
        reason = "unique short codes, one per row: a row key, never a feature"
    else:
        return Decision(None, "no column is a unique row key")
    for column in [*named, *counters, *codes]:
        if column != chosen and column not in excluded:
            excluded[column] = f"unique per row like the id {chosen!r}: a key, not a feature"
    return Decision(chosen, reason)


def _tokens(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if t]


def _exclusion(series: pd.Series, column: str, target: str) -> str | None:
    values = series.dropna()
    if values.empty:
        return "every value is missing"
    distinct = values.nunique()
    # One value with some rows missing is kept: whether it is there may still tell.
    if distinct == 1 and len(values) == len(series):
        value = values.iloc[0]
        shown = repr(value) if isinstance(value, str) else str(value)
        return f"one value ({shown}) in every row"
    target_tokens, tokens = _tokens(target), _tokens(column)
    n = len(target_tokens)
    if n and any(tokens[i : i + n] == target_tokens for i in range(len(tokens) - n + 1)):
        return f"its name contains the target's name {target!r}: a leakage suspect"
    text = not _is_number(series) and not is_bool_dtype(series)
    if text and distinct >= _TEXT_MIN_DISTINCT and distinct >= _NEAR_UNIQUE * len(values):
        return f"near-unique text ({distinct:,} distinct values in {len(values):,} rows)"
    return None


def _leakage(frame: pd.DataFrame, target: str, task: str, columns: list[str]) -> dict[str, str]:
    """Columns that alone predict the target almost perfectly on rows they were not fitted
    on (3-fold): a shallow decision tree for numbers, a per-category lookup for categories."""
    labelled = frame[frame[target].notna()]
    if len(labelled) < _LEAKAGE_MIN_ROWS or not columns:
        return {}
    if len(labelled) > _LEAKAGE_ROWS:
        labelled = labelled.sample(_LEAKAGE_ROWS, random_state=0)
    from sklearn.model_selection import KFold, StratifiedKFold

    y = labelled[target]
    classify = task in ("binary", "multiclass")
    if classify:
        if y.value_counts().min() < 3:
            return {}
        codes, _ = pd.factorize(y.astype(str), sort=True)
        y_array = codes.astype(int)
        folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(labelled, y_array))
    else:
        y_array = y.to_numpy(dtype=float)
        folds = list(KFold(3, shuffle=True, random_state=0).split(labelled))
    out: dict[str, str] = {}
    for column in columns:
        score = _single_column_score(labelled[column], y_array, task, folds)
        if score is not None and score >= LEAKAGE_SCORE:
            metric = {"binary": "ROC AUC", "multiclass": "balanced accuracy"}.get(task, "R²")
            out[column] = (
                f"alone predicts {target!r} almost perfectly ({metric} {score:.3f} on held-out "
                "rows): a leakage suspect, likely known only after the outcome"
            )
    return out


def _single_column_score(
    x: pd.Series, y: np.ndarray, task: str, folds: list[tuple[np.ndarray, np.ndarray]]
) -> float | None:
    from sklearn.metrics import balanced_accuracy_score, r2_score, roc_auc_score
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    numeric = _is_number(x) or is_bool_dtype(x)
    if not numeric and x.nunique() > 1000:
        return None
    predicted = np.zeros(len(y)) if task != "multiclass" else np.zeros(len(y), dtype=int)
    for train, test in folds:
        if numeric:
            values = x.to_numpy(dtype=float).reshape(-1, 1)
            model: DecisionTreeClassifier | DecisionTreeRegressor
            if task in ("binary", "multiclass"):
                model = DecisionTreeClassifier(max_depth=6, min_samples_leaf=3, random_state=0)
            else:
                model = DecisionTreeRegressor(max_depth=6, min_samples_leaf=3, random_state=0)
            model.fit(values[train], y[train])
            if task == "binary":
                predicted[test] = model.predict_proba(values[test])[:, 1]
            else:
                predicted[test] = model.predict(values[test])
        else:
            keys = x.astype(str).where(x.notna(), "\0missing").to_numpy()
            fitted = pd.Series(y[train]).groupby(keys[train])
            lookup = (
                fitted.agg(lambda s: s.mode().iloc[0]) if task == "multiclass" else fitted.mean()
            )
            fallback = (
                pd.Series(y[train]).mode().iloc[0]
                if task == "multiclass"
                else float(np.mean(y[train]))
            )
            predicted[test] = pd.Series(keys[test]).map(lookup).fillna(fallback).to_numpy()
    if task == "binary":
        return float(roc_auc_score(y, predicted))
    if task == "multiclass":
        return float(balanced_accuracy_score(y, predicted))
    return float(r2_score(y, predicted))
