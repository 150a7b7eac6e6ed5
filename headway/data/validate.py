"""Checks that a table can train a model for the project's task."""

from __future__ import annotations

import pandas as pd
from pandas.api.types import is_numeric_dtype

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.exceptions import DataError
from headway.project import DataConfig

__all__ = ["MIN_ROWS", "feature_columns", "raise_for_failures", "validate"]

MIN_ROWS = 50


def feature_columns(frame: pd.DataFrame, data: DataConfig) -> list[str]:
    """Columns used as model inputs: all but target, id, timestamp and excluded ones."""
    roles = {data.target, data.id_column, data.timestamp_column, *data.exclude_columns}
    return [str(c) for c in frame.columns if c not in roles]


def validate(
    frame: pd.DataFrame, version: DatasetVersion, *, data: DataConfig, task: str
) -> ValidationReport:
    """Check the table against the roles declared in ``data`` and the ``task``.

    Error-severity failures stop the pipeline; warnings are reported.
    """
    checks: list[CheckResult] = []
    add = checks.append
    columns = set(map(str, frame.columns))
    shown = ", ".join(sorted(columns)[:20])

    declared = {"data.target": data.target, "data.id_column": data.id_column}
    declared["data.timestamp_column"] = data.timestamp_column
    for key, column in declared.items():
        if column is None:
            continue
        present = column in columns
        add(
            CheckResult(
                name="column_present",
                column=column,
                passed=present,
                message="present"
                if present
                else f"column {column!r} ({key}) is not in the data. Columns are: {shown}. "
                f"Fix {key} in headway.yaml.",
            )
        )
    missing_excluded = sorted(set(data.exclude_columns) - columns)
    if missing_excluded:
        add(
            CheckResult(
                name="column_present",
                passed=False,
                severity="warn",
                message=f"data.exclude_columns names columns not in the data: {missing_excluded}",
            )
        )

    add(
        CheckResult(
            name="min_rows",
            passed=len(frame) >= MIN_ROWS,
            message=f"{len(frame)} rows" + ("" if len(frame) >= MIN_ROWS else f" < {MIN_ROWS}"),
        )
    )
    if data.target in columns:
        checks.extend(_target_checks(frame[data.target], task))
    if data.id_column in columns:
        dupes = frame[data.id_column].duplicated()
        add(
            CheckResult(
                name="unique_id",
                column=data.id_column,
                passed=not dupes.any(),
                message="ids are unique"
                if not dupes.any()
                else f"{int(dupes.sum())} duplicated id(s) in {data.id_column!r}, e.g. "
                f"{frame.loc[dupes, data.id_column].head(3).tolist()}. Deduplicate the data.",
            )
        )
    features = feature_columns(frame, data)
    add(
        CheckResult(
            name="has_features",
            passed=bool(features),
            message=f"{len(features)} feature column(s)"
            if features
            else "no feature columns left after removing target, id, timestamp and exclusions",
        )
    )
    empty = [c for c in features if frame[c].isna().all()]
    if empty:
        add(
            CheckResult(
                name="feature_not_empty",
                passed=False,
                severity="warn",
                message=f"feature column(s) with only missing values: {empty}",
            )
        )
    return ValidationReport(dataset_hash=version.content_hash, checks=tuple(checks))


def _target_checks(target: pd.Series, task: str) -> list[CheckResult]:
    name = str(target.name)
    n_null = int(target.isna().sum())
    if n_null == len(target):
        return [
            CheckResult(
                name="target_not_null",
                column=name,
                passed=False,
                message=f"target column {name!r} has only missing values; "
                "point data.target at the column holding the labels.",
            )
        ]
    out = [
        CheckResult(
            name="target_not_null",
            column=name,
            passed=n_null == 0,
            severity="warn",
            message=f"{n_null} row(s) with a missing target are dropped" if n_null else "no nulls",
        )
    ]
    labels = target.dropna()
    n_classes = labels.nunique()
    if task == "binary":
        ok = n_classes == 2
        msg = f"binary target with classes {sorted(map(str, labels.unique()))[:5]}"
        if not ok:
            msg = (
                f"task 'binary' needs exactly 2 classes in {name!r}, found {n_classes}: "
                f"{sorted(map(str, labels.unique()))[:5]}. Fix task or the target column."
            )
        out.append(CheckResult(name="target_classes", column=name, passed=ok, message=msg))
    elif task == "multiclass":
        ok = 2 <= n_classes <= 200
        out.append(
            CheckResult(
                name="target_classes",
                column=name,
                passed=ok,
                message=f"{n_classes} classes"
                + ("" if ok else "; task 'multiclass' needs 2 to 200 classes"),
            )
        )
    else:
        ok = is_numeric_dtype(labels)
        out.append(
            CheckResult(
                name="target_numeric",
                column=name,
                passed=ok,
                message=f"numeric target ({labels.dtype})"
                if ok
                else f"task 'regression' needs a numeric target; {name!r} is {labels.dtype}",
            )
        )
    return out


def raise_for_failures(report: ValidationReport, *, source: str) -> None:
    """Raise :class:`DataError` listing every error-severity failure of ``report``."""
    if report.passed:
        return
    lines = "\n".join(f"  - {c.message}" for c in report.failures)
    raise DataError(f"{source}: data validation failed:\n{lines}")
