"""Validation of a table against its schema and the project's roles, with pandera (lazy mode).

Every problem is collected before anything is decided: one run reports all failures, each
naming the column, the first offending values and rows, and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandas.api.types import is_numeric_dtype
from scipy.stats import rankdata

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.data.schema import DataSchema
from headway.exceptions import DataError
from headway.project import DataConfig

__all__ = [
    "UNKNOWN_CATEGORY",
    "check_roles",
    "feature_columns",
    "raise_for_failures",
    "validate",
]

UNKNOWN_CATEGORY = "unknown"
_EXAMPLES = 5
_LEAKAGE_SAMPLE = 20_000
_FUTURE_TOLERANCE = timedelta(days=1)


def feature_columns(frame: pd.DataFrame, data: DataConfig) -> list[str]:
    """Columns used as model inputs: all but target, id, timestamp, group and excluded ones."""
    roles = {data.target, data.id_column, data.timestamp_column, data.group_column}
    roles.update(data.exclude_columns)
    return [str(c) for c in frame.columns if c not in roles]


def _role_keys(data: DataConfig) -> dict[str, str | None]:
    return {
        "data.target": data.target,
        "data.id_column": data.id_column,
        "data.timestamp_column": data.timestamp_column,
        "data.group_column": data.group_column,
    }


def check_roles(frame: pd.DataFrame, data: DataConfig, *, source: str) -> None:
    """Fail fast when a column named in ``data`` is not in the table.

    Raises:
        DataError: naming each missing column, its key in headway.yaml, and close matches.
    """
    columns = [str(c) for c in frame.columns]
    problems = []
    for key, column in _role_keys(data).items():
        if column is not None and column not in columns:
            close = difflib.get_close_matches(column, columns, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append(
                f"column {column!r} ({key}) is not in the data.{hint} "
                f"Columns are: {', '.join(columns[:20])}. Fix {key} in headway.yaml."
            )
    if problems:
        raise DataError(
            f"{source}: data validation failed:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def _fail(
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


def _passed(
    name: str, message: str, column: str | None = None, severity: str = "error"
) -> CheckResult:
    return CheckResult(name, True, message, column, severity)


def validate(
    frame: pd.DataFrame,
    version: DatasetVersion,
    *,
    schema: DataSchema,
    data: DataConfig,
    task: str,
    now: datetime | None = None,
    on_typed: Callable[[pd.DataFrame], None] | None = None,
) -> tuple[ValidationReport, pd.DataFrame]:
    """Check ``frame`` against ``schema`` and the ``task``; return the report and the table
    with columns cast to their schema types (and unknown categories mapped, if so configured).

    ``on_typed`` is called with that final table as soon as it exists, before the value
    checks, so that the caller can start writing it while the checks run.
    """
    checks: list[CheckResult] = []
    rules = schema.checks
    frame = frame.copy(deep=False)

    # 1. Header: missing, extra, renamed columns.
    expected = list(schema.columns)
    present = [str(c) for c in frame.columns]
    missing = [c for c in expected if c not in present]
    extra = [c for c in present if c not in schema.columns]
    if (missing or extra) and rules.columns != "off":
        renames = {
            m: close[0] for m in missing if (close := difflib.get_close_matches(m, extra, n=1))
        }
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"extra column(s) {extra}")
        if renames:
            parts.append("renamed? " + ", ".join(f"{a!r} -> {b!r}" for a, b in renames.items()))
        checks.append(
            _fail(
                "columns",
                None,
                rules.columns,
                "the header differs from schema.yaml: " + "; ".join(parts) + ". Fix the export, "
                "or edit schema.yaml (delete it to infer it again from this data)",
            )
        )
    else:
        checks.append(_passed("columns", f"{len(expected)} columns as in schema.yaml"))

    # 2. Types: cast what can be cast, name what cannot.
    mistyped: set[str] = set()
    for name, col in schema.columns.items():
        if name not in frame.columns:
            continue
        result = _check_type(frame, name, col.dtype, rules.types)
        if result is not None:
            checks.append(result)
            mistyped.add(name)
    if rules.types != "off" and not any(c.name == "types" for c in checks):
        checks.append(_passed("types", "every column has its schema type", severity=rules.types))

    # 3. Categories outside the known set.
    for name, col in schema.columns.items():
        if col.categories is None or col.role != "feature" or name not in frame.columns:
            continue
        if rules.categories == "off":
            continue
        values = frame[name]
        unseen = values[values.notna() & ~values.astype(str).isin(col.categories)]
        if len(unseen):
            if rules.categories == "map":
                frame[name] = values.where(~values.index.isin(unseen.index), UNKNOWN_CATEGORY)
            severity = "error" if rules.categories == "error" else "warn"
            verb = f"mapped to {UNKNOWN_CATEGORY!r}" if rules.categories == "map" else "found"
            checks.append(
                _fail(
                    "categories",
                    name,
                    severity,
                    f"column {name!r} has categories never seen before, {verb}; "
                    "add them to its categories in schema.yaml if they are expected",
                    unseen,
                )
            )

    if on_typed is not None:
        on_typed(frame)

    # 4. Value checks with pandera: nulls, ranges, unique id (on correctly typed columns).
    checks.extend(_pandera_checks(frame, schema, data, skip=mistyped))

    # 5. Table-level checks.
    unique_ids = (
        data.id_column is not None
        and not any(c.name == "unique_id" and not c.passed for c in checks)
        and any(c.name == "unique_id" for c in checks)
    )
    checks.extend(
        _table_checks(frame, schema, data, task, now or datetime.now(UTC), unique_ids=unique_ids)
    )
    report = ValidationReport(
        dataset_hash=version.content_hash, checks=tuple(checks), schema_hash=schema.fingerprint()
    )
    return report, frame


def _check_type(frame: pd.DataFrame, name: str, dtype: str, severity: str) -> CheckResult | None:
    values = frame[name]
    if dtype in ("int", "float"):
        if is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numeric = values
        else:
            numeric = pd.to_numeric(values, errors="coerce")
            bad = values[numeric.isna() & values.notna()]
            if len(bad) and severity != "off":
                return _fail(
                    "types",
                    name,
                    severity,
                    f"column {name!r} must be numeric ({dtype}) but holds text; fix the export "
                    "or change its dtype to string in schema.yaml",
                    bad,
                )
        if dtype == "int":
            fractional = numeric[numeric.notna() & (numeric != numeric.round())]
            if len(fractional) and severity != "off":
                return _fail(
                    "types",
                    name,
                    severity,
                    f"column {name!r} must hold whole numbers (int); change its dtype to float "
                    "in schema.yaml if fractions are expected",
                    fractional,
                )
        frame[name] = numeric
    elif dtype == "string":
        if not pd.api.types.is_string_dtype(values) or values.dtype == object:
            frame[name] = values.astype(str).where(values.notna(), np.nan)
    elif dtype == "bool" and not pd.api.types.is_bool_dtype(values):
        mapped = (
            values.astype(str)
            .str.lower()
            .map({"true": True, "false": False, "1": True, "0": False})
        )
        bad = values[mapped.isna() & values.notna()]
        if len(bad) and severity != "off":
            return _fail("types", name, severity, f"column {name!r} must be true/false", bad)
        frame[name] = mapped.where(values.notna(), np.nan)
    elif dtype == "datetime" and not pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
        bad = values[parsed.isna() & values.notna()]
        if len(bad) and severity != "off":
            return _fail(
                "types", name, severity, f"column {name!r} must hold timestamps (ISO 8601)", bad
            )
        frame[name] = parsed
    return None


def _pandera_checks(
    frame: pd.DataFrame, schema: DataSchema, data: DataConfig, *, skip: set[str]
) -> list[CheckResult]:
    rules = schema.checks
    severities = {"nulls": rules.nulls, "ranges": rules.ranges, "unique_id": rules.unique_id}
    columns: dict[str, pa.Column] = {}
    for name, col in schema.columns.items():
        if name not in frame.columns or name in skip:
            continue
        checks = []
        if (
            rules.ranges != "off"
            and col.role == "feature"
            and (col.min is not None or col.max is not None)
        ):
            low = col.min if col.min is not None else -np.inf
            high = col.max if col.max is not None else np.inf
            checks.append(pa.Check.in_range(low, high, name="ranges"))
        columns[name] = pa.Column(
            checks=checks,
            nullable=col.nullable or rules.nulls == "off" or col.role == "target",
            unique=name == data.id_column and rules.unique_id != "off",
            required=False,
        )
    try:
        pa.DataFrameSchema(columns, strict=False).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return _from_failure_cases(exc.failure_cases, severities)
    return [
        _passed(kind, f"no {kind.replace('_', ' ')} failures", severity=sev)
        for kind, sev in severities.items()
        if sev != "off"
    ]


def _from_failure_cases(cases: pd.DataFrame, severities: Mapping[str, str]) -> list[CheckResult]:
    out: list[CheckResult] = []
    kinds = {"not_nullable": "nulls", "field_uniqueness": "unique_id", "ranges": "ranges"}
    seen_kinds = set()
    for (column, check), group in cases.groupby(["column", "check"], sort=False):
        kind = next((k for key, k in kinds.items() if str(check).startswith(key)), str(check))
        seen_kinds.add(kind)
        severity = severities.get(kind, "error")
        group = group[group["index"].notna()]
        index = pd.to_numeric(group["index"], errors="coerce").astype(int)
        values = pd.Series(group["failure_case"].to_numpy(), index=index.to_numpy())
        if kind == "nulls":
            message = f"column {column!r} has missing values but schema.yaml says nullable: false"
            values = pd.Series(["null"] * len(index), index=index.to_numpy())
        elif kind == "unique_id":
            message = f"{column!r} (data.id_column) has duplicated ids; deduplicate the data"
        elif kind == "ranges":
            message = f"column {column!r} has values outside the range in schema.yaml"
        else:
            message = f"column {column!r} fails {check}"
        out.append(_fail(kind, str(column), severity, message, values))
    for kind, severity in severities.items():
        if kind not in seen_kinds and severity != "off":
            out.append(_passed(kind, f"no {kind.replace('_', ' ')} failures", severity=severity))
    return out


def _table_checks(
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
            "" if ok else f", fewer than the minimum {rules.min_rows_count}"
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
                _fail(
                    "future_timestamps",
                    ts,
                    rules.future_timestamps,
                    f"{ts!r} (data.timestamp_column) has timestamps after now ({now:%Y-%m-%d}); "
                    "fix the clock or time zone of the export",
                    future.astype(str),
                )
                if len(future)
                else _passed("future_timestamps", "no timestamps in the future", ts)
            )
        if rules.monotonic_timestamps != "off":
            back = stamps[stamps.diff() < pd.Timedelta(0)]
            out.append(
                _fail(
                    "monotonic_timestamps",
                    ts,
                    rules.monotonic_timestamps,
                    f"{ts!r} goes back in time; sort the export by time",
                    back.astype(str),
                )
                if len(back)
                else _passed("monotonic_timestamps", "timestamps never decrease", ts)
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
        return _passed("duplicate_rows", "no duplicated rows (ids are unique)", severity=severity)
    # One 64-bit hash per row, then duplicates among the hashes: a fraction of the cost of
    # DataFrame.duplicated on wide tables.
    hashes = pd.util.hash_pandas_object(frame, index=False)
    dupes = hashes[hashes.duplicated()]
    if not len(dupes):
        return _passed("duplicate_rows", "no duplicated rows", severity=severity)
    return _fail(
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
    elif task == "regression" and is_numeric_dtype(y):
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
        return [
            _passed("leakage", "no single feature predicts the target alone", severity=severity)
        ]
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


def raise_for_failures(report: ValidationReport, *, source: str) -> None:
    """Raise :class:`DataError` listing every error-severity failure of ``report``."""
    if report.passed:
        return
    lines = "\n".join(f"  - {c.message}" for c in report.failures)
    raise DataError(f"{source}: data validation failed:\n{lines}")
