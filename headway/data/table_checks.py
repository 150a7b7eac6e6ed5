"""Checks of a table as a whole: row count, target, timestamps, duplicated rows, leakage."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from pandas.api.types import is_numeric_dtype
from scipy.stats import rankdata

from headway.artifacts import CheckResult
from headway.config import DataConfig
from headway.data.schema import DataSchema
from headway.tasks import NUMERIC_TASKS

__all__ = ["fail", "passed", "table_checks"]

_EXAMPLES = 5
_LEAKAGE_SAMPLE = 20_000
_FUTURE_TOLERANCE = timedelta(days=1)


def fail(
    name: str, column: str | None, severity: str, message: str, values: pd.Series | None = None
) -> CheckResult:
    examples: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()
    n = 0
    if values is not None:
        n = len(values)
        examples = tuple(str(v)[:60] for v in values.head(_EXAMPLES).tolist())
        rows = tuple(int(i) for i in values.index[:_EXAMPLES])
        shown = ", ".join(f"row {r}: {e!r}" for r, e in zip(rows, examples, strict=True))
        message = f"{message} ({n} value(s); {shown})"
    return CheckResult(name, False, message, column, severity, n, examples, rows)


def passed(
    name: str, message: str, column: str | None = None, severity: str = "error"
) -> CheckResult:
    return CheckResult(name, True, message, column, severity)


def table_checks(
    frame: pd.DataFrame,
    schema: DataSchema,
    data: DataConfig,
    task: str,
    now: datetime,
    *,
    unique_ids: bool,
) -> list[CheckResult]:
    rules = schema.checks
    out: list[CheckResult] = []
    if rules.min_rows != "off":
        ok = len(frame) >= rules.min_rows_count
        message = f"{len(frame)} rows" + (
            ""
            if ok
            else f", fewer than the minimum {rules.min_rows_count}: add rows, or lower "
            "checks.min_rows_count (or set checks.min_rows) in schema.yaml"
        )
        out.append(CheckResult("min_rows", ok, message, None, rules.min_rows))
    out.extend(_target_checks(frame[data.target], task))
    ts = data.timestamp_column
    if ts is not None and ts in frame.columns and pd.api.types.is_datetime64_any_dtype(frame[ts]):
        stamps = frame[ts]
        if rules.future_timestamps != "off":
            limit = pd.Timestamp(now + _FUTURE_TOLERANCE)
            future = stamps[stamps > limit]
            out.append(
                fail(
                    "future_timestamps",
                    ts,
                    rules.future_timestamps,
                    f"{ts!r} (data.timestamp_column) has timestamps after now ({now:%Y-%m-%d}); "
                    "fix the clock or time zone of the export",
                    future.astype(str),
                )
                if len(future)
                else passed("future_timestamps", "no timestamps in the future", ts)
            )
        if rules.monotonic_timestamps != "off":
            back = stamps[stamps.diff() < pd.Timedelta(0)]
            out.append(
                fail(
                    "monotonic_timestamps",
                    ts,
                    rules.monotonic_timestamps,
                    f"{ts!r} goes back in time; sort the export by time",
                    back.astype(str),
                )
                if len(back)
                else passed("monotonic_timestamps", "timestamps never decrease", ts)
            )
    if rules.duplicate_rows != "off":
        out.append(_duplicate_rows(frame, data, rules.duplicate_rows, unique_ids))
    if rules.leakage != "off" and data.target in frame.columns:
        out.extend(_leakage(frame, schema, data, task, rules.leakage, rules.leakage_auc))
    return out


def _duplicate_rows(
    frame: pd.DataFrame, data: DataConfig, severity: str, unique_ids: bool
) -> CheckResult:
    if unique_ids:
        # Rows that differ in their (unique) id cannot be copies of each other.
        return passed("duplicate_rows", "no duplicated rows (ids are unique)", severity=severity)
    # One 64-bit hash per row, then duplicates among the hashes: a fraction of the cost of
    # DataFrame.duplicated on wide tables.
    hashes = pd.util.hash_pandas_object(frame, index=False)
    dupes = hashes[hashes.duplicated()]
    if not len(dupes):
        return passed("duplicate_rows", "no duplicated rows", severity=severity)
    return fail(
        "duplicate_rows",
        None,
        severity,
        "identical rows appear more than once; deduplicate the export",
        pd.Series(["duplicate"] * len(dupes), index=dupes.index),
    )


def _target_checks(target: pd.Series, task: str) -> list[CheckResult]:
    name = str(target.name)
    n_null = int(target.isna().sum())
    if n_null == len(target):
        return [
            CheckResult(
                "target_not_null",
                False,
                f"target column {name!r} has only missing values; "
                "point data.target at the column holding the labels",
                name,
            )
        ]
    out = [
        CheckResult(
            "target_not_null",
            n_null == 0,
            f"{n_null} row(s) with a missing target are dropped" if n_null else "no nulls",
            name,
            "warn",
            n_null,
        )
    ]
    labels = target.dropna()
    classes = sorted(map(str, labels.unique()))
    if task == "binary":
        ok = len(classes) == 2
        message = f"binary target with classes {classes[:5]}"
        if not ok:
            message = (
                f"task 'binary' needs exactly 2 classes in {name!r}, found {len(classes)}: "
                f"{classes[:5]}. Fix task or the target column."
            )
        out.append(CheckResult("target_classes", ok, message, name))
    elif task == "multiclass":
        ok = 2 <= len(classes) <= 200
        message = f"{len(classes)} classes" + ("" if ok else "; task 'multiclass' needs 2 to 200")
        out.append(CheckResult("target_classes", ok, message, name))
    else:
        ok = is_numeric_dtype(labels)
        message = (
            f"numeric target ({labels.dtype})"
            if ok
            else f"task 'regression' needs a numeric target; {name!r} is {labels.dtype}"
        )
        out.append(CheckResult("target_numeric", ok, message, name))
    return out


def _leakage(
    frame: pd.DataFrame,
    schema: DataSchema,
    data: DataConfig,
    task: str,
    severity: str,
    bound: float,
) -> list[CheckResult]:
    """Features that alone predict the target almost perfectly: likely label leakage."""
    labelled = frame[frame[data.target].notna()]
    if len(labelled) > _LEAKAGE_SAMPLE:
        labelled = labelled.sample(_LEAKAGE_SAMPLE, random_state=0)
    y = labelled[data.target]
    if task == "binary" and y.nunique() == 2:
        positive = sorted(y.unique(), key=str)[1]
        y_true = (y == positive).to_numpy()
    elif task in NUMERIC_TASKS and is_numeric_dtype(y):
        y_true = y.to_numpy(dtype=float)
    else:
        return []
    suspects = []
    for name in schema.features():
        if name not in labelled.columns:
            continue
        values = labelled[name]
        if is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            x = values.to_numpy(dtype=float)
        elif values.nunique() <= 1000:
            # A category's mean target, in sample: enough to flag a near-deterministic column.
            x = (
                values.astype(str)
                .map(pd.Series(y_true).groupby(values.astype(str).to_numpy()).mean())
                .to_numpy(dtype=float)
            )
        else:
            continue
        mask = ~np.isnan(x)
        if mask.sum() < 20:
            continue
        if task == "binary":
            if len(np.unique(y_true[mask])) < 2:
                continue
            auc = _auc(y_true[mask], x[mask])
            strength = max(auc, 1 - auc)
        else:
            corr = pd.Series(x[mask]).corr(pd.Series(y_true[mask]), method="spearman")
            strength = abs(float(corr)) if not np.isnan(corr) else 0.0
        if strength >= bound:
            suspects.append((name, strength))
    if not suspects:
        return [passed("leakage", "no single feature predicts the target alone", severity=severity)]
    return [
        CheckResult(
            "leakage",
            False,
            f"feature {name!r} alone predicts {data.target!r} almost perfectly (score "
            f"{strength:.3f}): a label leakage suspect. Add it to data.exclude_columns if it is "
            "only known after the outcome",
            name,
            severity,
        )
        for name, strength in suspects
    ]


def _auc(y_true: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula: the same number as scikit-learn's, without its
    input validation, which dominated this check on wide tables."""
    ranks = rankdata(score)
    positives = y_true.astype(bool)
    n_pos = int(positives.sum())
    n_neg = len(y_true) - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
