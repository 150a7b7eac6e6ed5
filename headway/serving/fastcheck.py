"""The request checks of :mod:`headway.serving.checks` for clean requests, without pandas.

Most requests are clean: every feature column present, numbers as JSON numbers inside the
training range, categories seen in training, no nulls where the schema forbids them. For
those :meth:`FastChecker.clean` gives the model's typed input (float64 numbers, category
strings with NaN for missing) straight from the parsed JSON columns, which is what
:func:`headway.serving.checks.check_request` gives for them. For anything else (a missing
column, text in a number column, a value outside a rule, a whole number rule on a fraction,
a boolean written as text) it answers ``None`` and the caller takes the full path, which
produces the same input together with the warning or the error that names the column and
the row. The fast path therefore never decides differently: it only declines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from headway.data.schema import ChecksConfig, DataSchema
from headway.features.contract import FeatureTypes

__all__ = ["FastChecker", "compile_checks"]

Columns = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class _Number:
    name: str
    whole: bool  # dtype int: a fraction breaks the types rule
    boolean: bool  # dtype bool: only 0 and 1
    required: bool  # the nulls rule applies
    low: float
    high: float  # the ranges rule applies when either is finite


@dataclass(frozen=True)
class _Category:
    name: str
    required: bool
    allowed: frozenset[str] | None  # the categories rule applies


class FastChecker:
    """The checks of one model's schema, compiled for clean requests."""

    def __init__(self, types: FeatureTypes, schema: DataSchema | None) -> None:
        rules = schema.checks if schema is not None else ChecksConfig()
        specs = schema.columns if schema is not None else {}
        self.types = types
        self._numbers: list[_Number] = []
        for name in types.numeric:
            spec = specs.get(name)
            dtype = spec.dtype if spec is not None else "float"
            ranged = (
                spec is not None
                and rules.ranges != "off"
                and spec.role == "feature"
                and spec.dtype in ("int", "float")
            )
            self._numbers.append(
                _Number(
                    name,
                    whole=dtype == "int" and rules.types != "off",
                    boolean=dtype == "bool",
                    required=spec is not None and not spec.nullable and rules.nulls != "off",
                    low=spec.min if ranged and spec and spec.min is not None else -math.inf,
                    high=spec.max if ranged and spec and spec.max is not None else math.inf,
                )
            )
        # Per number column (as a column vector), for checking all of them at once.
        self._required = np.array([[n.required] for n in self._numbers], dtype=bool)
        self._whole = np.array([[n.whole] for n in self._numbers], dtype=bool)
        self._boolean = np.array([[n.boolean] for n in self._numbers], dtype=bool)
        self._low = np.array([[n.low] for n in self._numbers], dtype=np.float64)
        self._high = np.array([[n.high] for n in self._numbers], dtype=np.float64)
        self._categories: list[_Category] = []
        for name in types.categorical:
            spec = specs.get(name)
            allowed = None
            if spec is not None and spec.categories is not None and rules.categories != "off":
                # A boolean is typed as a number in training: the full path takes it.
                allowed = frozenset() if spec.dtype == "bool" else frozenset(spec.categories)
            self._categories.append(
                _Category(
                    name,
                    required=spec is not None and not spec.nullable and rules.nulls != "off",
                    allowed=allowed,
                )
            )

    def clean(self, columns: Columns, n_rows: int) -> dict[str, np.ndarray] | None:
        """The typed feature columns when every rule passes without a word, else ``None``.

        ``columns``: column name -> the request's values of that column (one per row, as
        decoded from JSON).
        """
        out: dict[str, np.ndarray] = {}
        for category in self._categories:
            values = columns.get(category.name)
            if values is None or len(values) != n_rows:
                return None
            typed = np.empty(n_rows, dtype=object)
            for i, value in enumerate(values):
                if value is None:
                    if category.required:
                        return None
                    typed[i] = np.nan
                elif type(value) is str:
                    if category.allowed is not None and value not in category.allowed:
                        return None
                    typed[i] = value
                else:  # a number or a boolean where a category goes: the full path
                    return None
            out[category.name] = typed
        if not self._numbers:
            return out
        rows: list[Sequence[Any]] = []
        for number in self._numbers:
            values = columns.get(number.name)
            if values is None or len(values) != n_rows:
                return None
            for value in values:
                kind = type(value)
                if kind is not float and kind is not int and value is not None:
                    return None  # text, booleans, lists: the full path decides
            rows.append(values)
        try:  # every number column at once: one row per column, None -> NaN
            matrix = np.array(rows, dtype=np.float64)
        except OverflowError:
            return None
        present = ~np.isnan(matrix)
        if (
            np.isinf(matrix).any()
            or (~present & self._required).any()
            or ((matrix != np.round(matrix)) & present & self._whole).any()
            or ((matrix != 0.0) & (matrix != 1.0) & present & self._boolean).any()
            or (matrix < self._low).any()  # NaN compares false: missing is never outside
            or (matrix > self._high).any()
        ):
            return None
        for number, values in zip(self._numbers, matrix, strict=True):
            out[number.name] = values
        return out


def compile_checks(types: FeatureTypes, schema: DataSchema | None) -> FastChecker:
    """The fast checks of a model with feature ``types`` and training ``schema``."""
    return FastChecker(types, schema)
