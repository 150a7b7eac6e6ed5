"""Validation of a table against its schema and the project's roles, with pandera (lazy mode).

Column-level checks (header, types, categories, nulls, ranges, unique id) live here; checks
of the table as a whole (rows, target, timestamps, duplicates, leakage) in ``table_checks``.

Every problem is collected before anything is decided: one run reports all failures, each
naming the column, the first offending values and rows, and the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.config import DataConfig
from headway.data.schema import DataSchema
from headway.data.table_checks import fail, passed, table_checks
from headway.exceptions import DataError

__all__ = [
    "UNKNOWN_CATEGORY",
    "check_roles",
    "feature_columns",
    "raise_for_failures",
    "validate",
]

UNKNOWN_CATEGORY = "unknown"


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
            fail(
                "columns",
                None,
                rules.columns,
                "the header differs from schema.yaml: " + "; ".join(parts) + ". Fix the export, "
                "or edit schema.yaml (delete it to infer it again from this data)",
            )
        )
    else:
        checks.append(passed("columns", f"{len(expected)} columns as in schema.yaml"))

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
        checks.append(passed("types", "every column has its schema type", severity=rules.types))

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
                fail(
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
        table_checks(frame, schema, data, task, now or datetime.now(UTC), unique_ids=unique_ids)
    )
    report = ValidationReport(
        dataset_hash=version.content_hash, checks=tuple(checks), schema_hash=schema.fingerprint()
    )
    return report, frame


def _check_type(frame: pd.DataFrame, name: str, dtype: str, severity: str) -> CheckResult | None:
    values = frame[name]
    if dtype in ("int", "float"):
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numeric = values
        else:
            numeric = pd.to_numeric(values, errors="coerce")
            bad = values[numeric.isna() & values.notna()]
            if len(bad) and severity != "off":
                return fail(
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
                return fail(
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
            return fail("types", name, severity, f"column {name!r} must be true/false", bad)
        frame[name] = mapped.where(values.notna(), np.nan)
    elif dtype == "datetime" and not pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True, errors="coerce", format="mixed")
        bad = values[parsed.isna() & values.notna()]
        if len(bad) and severity != "off":
            return fail(
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
        passed(kind, f"no {kind.replace('_', ' ')} failures", severity=sev)
        for kind, sev in severities.items()
        if sev != "off"
    ]


def _from_failure_cases(cases: pd.DataFrame, severities: Mapping[str, str]) -> list[CheckResult]:
    out: list[CheckResult] = []
    kinds = {"not_nullable": "nulls", "field_uniqueness": "unique_id", "in_range": "ranges"}
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
            bounds = str(check).removeprefix("in_range")
            message = (
                f"column {column!r} has values outside its range {bounds} in schema.yaml: "
                "fix the data, or widen min/max (or set checks.ranges) in schema.yaml"
            )
        else:
            message = f"column {column!r} fails {check}"
        out.append(fail(kind, str(column), severity, message, values))
    for kind, severity in severities.items():
        if kind not in seen_kinds and severity != "off":
            out.append(passed(kind, f"no {kind.replace('_', ' ')} failures", severity=severity))
    return out


def raise_for_failures(report: ValidationReport, *, source: str) -> None:
    """Raise :class:`DataError` listing every error-severity failure of ``report``."""
    if report.passed:
        return
    lines = "\n".join(f"  - {c.message}" for c in report.failures)
    raise DataError(f"{source}: data validation failed:\n{lines}")
