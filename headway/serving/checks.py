"""The training schema's rules applied to one request, as training applies them to a table.

``check_request`` turns the request's feature columns into the model's input (numbers as
float64, categories as strings) and applies, column by column, each rule of the
``schema.yaml`` logged with the model at the severity it gives that rule:

- types: text in a number column, a fraction in an ``int`` column, anything but true/false
  (or 1/0) in a ``bool`` column. ``error``: a 400; ``warn``: a warning, and text counts as
  missing (as training casts it); ``off``: the same, silently.
- nulls, categories (``map``: an unseen value becomes ``unknown``, or missing for a boolean)
  and ranges (the training minimum and maximum): ``error`` is a 400, ``warn`` a warning.

Whatever the schema says, a missing feature column and a number that is not finite
(``inf``, ``1e400``) are a 400: the model cannot take them. A model without a logged schema
gets the default severities (a 400 for text in a number column).

Each error message names the column and the first offending row; a warning is
``{"column", "check", "rows"}`` with the first five rows (positions in the request).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from headway.data.schema import ChecksConfig, ColumnSchema, DataSchema
from headway.data.validate import UNKNOWN_CATEGORY
from headway.exceptions import InvalidRequestError
from headway.features.contract import FeatureTypes, coerce_features

__all__ = ["check_request"]

Warnings = list[dict[str, Any]]

# How training reads a boolean column (``data.validate``), plus the JSON literals.
_BOOLEAN_TEXT = {"true": 1.0, "false": 0.0, "1": 1.0, "0": 0.0}
_SHOWN = 40  # characters of an offending value quoted in a message


def check_request(
    frame: pd.DataFrame, types: FeatureTypes, schema: DataSchema | None
) -> tuple[pd.DataFrame, Warnings]:
    """The model's input columns of a request, checked against the training schema.

    Returns:
        The features in model input order, and the warnings of ``warn``-level rules.

    Raises:
        InvalidRequestError: a feature column is missing, a number is not finite, or a rule
            of severity ``error`` fails; the message names the column and the row.
    """
    missing = [c for c in types.columns if c not in frame.columns]
    if missing:
        shown = ", ".join(map(repr, missing[:20]))
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise InvalidRequestError(
            f"missing input column(s): [{shown}]{more}; the model takes "
            f"{len(types.columns)} feature columns"
        )
    rules = schema.checks if schema is not None else ChecksConfig()
    specs = schema.columns if schema is not None else {}
    warnings: Warnings = []
    columns: dict[str, Any] = {c: frame[c] for c in types.categorical}
    for name in types.numeric:
        columns[name] = _numbers(frame[name], name, specs.get(name), rules.types, warnings)
    features = coerce_features(pd.DataFrame(columns, index=frame.index), types)
    features = features[list(types.columns)]
    if schema is not None:
        features = _enforce(features, types, schema, warnings)
    return features, warnings


def _quote(value: object) -> str:
    return repr(str(value)[:_SHOWN]) if isinstance(value, str) else str(value)[:_SHOWN]


def _numbers(
    values: pd.Series, name: str, spec: ColumnSchema | None, severity: str, warnings: Warnings
) -> np.ndarray:
    """A number column as float64 (missing: NaN), with the types rule applied."""
    dtype = spec.dtype if spec is not None else "float"
    parsed, text = _parse_booleans(values) if dtype == "bool" else _parse_numbers(values)
    infinite = np.flatnonzero(np.isinf(parsed))
    if len(infinite):
        row = int(infinite[0])
        raise InvalidRequestError(
            f"column {name!r} has {_quote(values.iloc[row])} in row {row}, a number that is "
            "not finite; send finite numbers, or null for a missing value"
        )
    wrong = text.copy()
    if dtype == "int":
        with np.errstate(invalid="ignore"):
            wrong |= ~np.isnan(parsed) & (parsed != np.round(parsed))
    rows = np.flatnonzero(wrong)
    if len(rows) and severity != "off":
        if severity == "error":
            row = int(rows[0])
            value = values.iloc[row]
            if dtype == "bool":
                expected = "must be true/false (or 1/0)"
            elif text[row]:
                expected = "must be numeric"
            else:
                expected = "must hold whole numbers (int)"
            raise InvalidRequestError(f"column {name!r} {expected}; row {row} has {_quote(value)}")
        warnings.append({"column": name, "check": "types", "rows": rows[:5].tolist()})
    parsed[text] = np.nan  # as training casts it: what is not a number is missing
    return parsed


def _parse_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Floats, and where a value is present but not a number (text, a list, an object)."""
    if is_numeric_dtype(values) or is_bool_dtype(values):
        parsed = values.to_numpy(dtype="float64", na_value=np.nan, copy=True)
        return parsed, np.zeros(len(parsed), dtype=bool)
    parsed = np.empty(len(values), dtype="float64")
    text = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values.to_numpy(dtype=object)):
        parsed[i], text[i] = _number(value)
    return parsed, text


def _number(value: object) -> tuple[float, bool]:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return math.nan, False
    if isinstance(value, bool | np.bool_ | int | float | np.number):
        try:
            return float(value), False
        except OverflowError:  # an integer beyond float64
            return math.inf if value > 0 else -math.inf, False
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return math.nan, True
        return number, math.isnan(number)  # the text "nan" is not a number
    return math.nan, True


def _parse_booleans(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """1.0 for true, 0.0 for false (JSON booleans, true/false in any case, 1/0), and where
    a value is present but none of these."""
    parsed = np.empty(len(values), dtype="float64")
    wrong = np.zeros(len(values), dtype=bool)
    for i, value in enumerate(values.to_numpy(dtype=object)):
        if isinstance(value, str):
            mapped = _BOOLEAN_TEXT.get(value.strip().lower())
            parsed[i], wrong[i] = (math.nan, True) if mapped is None else (mapped, False)
            continue
        number, text = _number(value)
        if math.isfinite(number) and number not in (0.0, 1.0):
            number, text = math.nan, True  # 2 or 0.5 is no boolean; inf is not finite
        parsed[i], wrong[i] = number, text
    return parsed, wrong


def _enforce(
    features: pd.DataFrame, types: FeatureTypes, schema: DataSchema, warnings: Warnings
) -> pd.DataFrame:
    """The null, category and range rules on the typed features."""
    rules = schema.checks
    for name in types.columns:
        spec = schema.columns.get(name)
        if spec is None:
            continue
        values = features[name]
        present = values.notna().to_numpy()
        if not spec.nullable and rules.nulls != "off":
            rows = np.flatnonzero(~present)
            if len(rows):
                if rules.nulls == "error":
                    raise InvalidRequestError(
                        f"column {name!r} is null in row {int(rows[0])}; the training schema "
                        "says it is never null"
                    )
                warnings.append({"column": name, "check": "nulls", "rows": rows[:5].tolist()})
        if spec.categories is not None and rules.categories != "off":
            features = _categories(features, name, spec.categories, spec.dtype, rules, warnings)
        if (
            rules.ranges != "off"
            and spec.role == "feature"
            and spec.dtype in ("int", "float")
            and name in types.numeric
            and (spec.min is not None or spec.max is not None)
        ):
            _ranges(values.to_numpy(dtype="float64"), name, spec, rules.ranges, warnings)
    return features


def _categories(
    features: pd.DataFrame,
    name: str,
    categories: list[str],
    dtype: str,
    rules: ChecksConfig,
    warnings: Warnings,
) -> pd.DataFrame:
    values = features[name]
    if dtype == "bool":
        # Typed as 1.0 / 0.0; the schema lists the values as training wrote them.
        allowed = {c.strip().lower() for c in categories}
        known = values.map({1.0: "true", 0.0: "false"}).isin(allowed)
    else:
        known = values.astype(str).isin(categories)
    unseen = (values.notna() & ~known).to_numpy()
    rows = np.flatnonzero(unseen)
    if not len(rows):
        return features
    if rules.categories == "error":
        first = values.iloc[rows[0]]
        if dtype == "bool":
            first = "true" if first == 1.0 else "false"
        raise InvalidRequestError(
            f"column {name!r} has {_quote(first)} in row {int(rows[0])}, a category not seen "
            "in training"
        )
    if rules.categories == "map":
        features = features.copy(deep=False)
        # A boolean is a number to the model: an unseen one becomes missing.
        features[name] = values.where(~unseen, np.nan if dtype == "bool" else UNKNOWN_CATEGORY)
    warnings.append({"column": name, "check": "categories", "rows": rows[:5].tolist()})
    return features


def _ranges(
    values: np.ndarray, name: str, spec: ColumnSchema, severity: str, warnings: Warnings
) -> None:
    low = spec.min if spec.min is not None else -math.inf
    high = spec.max if spec.max is not None else math.inf
    with np.errstate(invalid="ignore"):
        outside = ~np.isnan(values) & ((values < low) | (values > high))
    rows = np.flatnonzero(outside)
    if not len(rows):
        return
    if severity == "error":
        row = int(rows[0])
        raise InvalidRequestError(
            f"column {name!r} has {values[row]:g} in row {row}, outside the range "
            f"[{low:g}, {high:g}] seen in training"
        )
    warnings.append({"column": name, "check": "ranges", "rows": rows[:5].tolist()})
