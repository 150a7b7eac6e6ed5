"""The data schema: inferred on the first run, written to ``schema.yaml``, enforced after.

A schema lists every column with its type, role, nullability, range and category set, plus the
severity of each check (``error`` stops the pipeline, ``warn`` is reported, ``off`` skips it).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import pandas as pd
import yaml
from pandas.api.types import (
    is_bool_dtype,
    is_datetime64_any_dtype,
    is_float_dtype,
    is_integer_dtype,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from headway.config import DataConfig
from headway.exceptions import ConfigError

__all__ = [
    "ChecksConfig",
    "ColumnSchema",
    "DataSchema",
    "infer_schema",
    "load_schema",
    "write_schema",
]

DType = Literal["int", "float", "bool", "string", "datetime"]
Role = Literal["feature", "target", "id", "timestamp", "group", "excluded"]
Severity = Literal["error", "warn", "off"]

MAX_CATEGORIES = 100  # a string column with more distinct values is treated as free text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ColumnSchema(_Strict):
    """What one column must look like."""

    dtype: DType
    role: Role = "feature"
    nullable: bool = True
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = Field(
        default=None, description="Allowed values of a string column; None: any value."
    )


class ChecksConfig(_Strict):
    """Severity of each check, and the thresholds of some."""

    columns: Severity = Field(default="error", description="missing, extra or renamed columns")
    types: Severity = "error"
    nulls: Severity = "error"
    ranges: Severity = "warn"
    categories: Literal["error", "warn", "map", "off"] = Field(
        default="warn",
        description="values outside the category set: error, warn, or map to 'unknown'",
    )
    unique_id: Severity = "error"
    future_timestamps: Severity = "error"
    monotonic_timestamps: Severity = "off"
    duplicate_rows: Severity = "warn"
    leakage: Severity = "warn"
    min_rows: Severity = "error"
    min_rows_count: int = Field(default=50, ge=1)
    leakage_auc: float = Field(
        default=0.98, gt=0.5, le=1.0, description="single-feature score that flags leakage"
    )


class DataSchema(_Strict):
    """The content of ``schema.yaml``."""

    version: Literal[1] = 1
    columns: dict[str, ColumnSchema]
    checks: ChecksConfig = Field(default_factory=ChecksConfig)

    def fingerprint(self) -> str:
        """Hash of the schema, recorded as lineage and used to key cached validations."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def features(self) -> list[str]:
        return [name for name, col in self.columns.items() if col.role == "feature"]


def _dtype(series: pd.Series) -> DType:
    if is_bool_dtype(series):
        return "bool"
    if is_integer_dtype(series):
        return "int"
    if is_float_dtype(series):
        non_null = series.dropna()
        integral = len(non_null) > 0 and bool((non_null == non_null.round()).all())
        # An integer column with missing values arrives as floats from CSV.
        return "int" if integral and series.isna().any() else "float"
    if is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def _role(name: str, data: DataConfig) -> Role:
    roles: dict[str | None, Role] = {
        data.target: "target",
        data.id_column: "id",
        data.timestamp_column: "timestamp",
        data.group_column: "group",
    }
    if name in data.exclude_columns:
        return "excluded"
    return roles.get(name, "feature")


def infer_schema(frame: pd.DataFrame, data: DataConfig) -> DataSchema:
    """A schema that the given table satisfies, with roles taken from ``data``."""
    columns: dict[str, ColumnSchema] = {}
    for name in frame.columns:
        series = frame[name]
        dtype = _dtype(series)
        role = _role(str(name), data)
        column = ColumnSchema(dtype=dtype, role=role, nullable=bool(series.isna().any()))
        if dtype in ("int", "float") and role in ("feature", "target") and series.notna().any():
            column.min, column.max = float(series.min()), float(series.max())
        if dtype in ("string", "bool") and role in ("feature", "target"):
            values = series.dropna().astype(str).unique()
            if len(values) <= MAX_CATEGORIES:
                column.categories = sorted(values.tolist())
        columns[str(name)] = column
    return DataSchema(columns=columns)


def write_schema(schema: DataSchema, path: Path) -> None:
    """Write ``schema.yaml`` (atomically) with a header that says how to edit it."""
    header = (
        "# headway data schema: inferred from the first dataset, enforced on every run and\n"
        "# at serving time. Review and edit it: widen a range, add a category, allow nulls,\n"
        "# or change a check's severity (error | warn | off). See docs/data.md.\n"
    )
    body = yaml.safe_dump(schema.model_dump(mode="json", exclude_none=True), sort_keys=False)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + body, encoding="utf-8")
    tmp.replace(path)


def load_schema(path: Path) -> DataSchema:
    """Read ``schema.yaml``.

    Raises:
        ConfigError: malformed YAML or an invalid key, named with its path in the file.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return DataSchema.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - key '{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(
            f"{path}: invalid schema:\n{problems}\nFix it, or delete the file to infer it again."
        ) from exc
