"""Column sketches: what a drift test needs to know about a column, in a few kilobytes.

A numeric column is summarised by the edges of 100 bins cut at its own quantiles (the
reference's percentiles) and the rows that fall in each bin, plus nulls, mean, standard
deviation and range; a categorical column by the frequency of its 50 most common values
(the rest pooled as ``other``) and nulls. A window of live rows is binned on the
*reference's* edges, so both sides of a drift test are counts over the same bins and every
statistic is computed from counts (:mod:`headway.monitoring.drift`): binning a million rows
is one ``searchsorted`` per column.

The coarse bins of the binned tests (PSI, Jensen-Shannon, Hellinger, chi-square) are the
reference's deciles, a subset of the fine edges, so one pass yields both resolutions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "FINE_BINS",
    "MAX_CATEGORIES",
    "NEW",
    "OTHER",
    "ColumnSketch",
    "WindowCounts",
    "column_kind",
    "count_window",
    "sketch_column",
]

FINE_BINS = 100
COARSE_BINS = 10
MAX_CATEGORIES = 50
# Buckets of a categorical column beyond its named categories.
OTHER = "(other)"
NEW = "(new)"

Kind = Literal["numeric", "categorical"]


def column_kind(values: pd.Series) -> Kind:
    """``numeric`` for numbers (booleans excluded), else ``categorical``."""
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical"
    if pd.api.types.is_numeric_dtype(dtype):
        return "numeric"
    return "categorical"


@dataclass(frozen=True)
class ColumnSketch:
    """A column of the reference, summarised.

    Attributes:
        column: the column name.
        kind: ``numeric`` or ``categorical``.
        rows: rows seen, nulls included.
        nulls: null values among them.
        edges: numeric: the interior edges of the fine bins (sorted, distinct); a value
            ``v`` falls in bin ``searchsorted(edges, v, side="right")``.
        counts: rows per bin (numeric: ``len(edges) + 1`` bins; categorical: one per entry
            of ``categories`` then ``other``), nulls not included.
        coarse: numeric: the positions in ``edges`` of the coarse (decile) edges.
        sums: numeric: the sum of the values in each bin (a bin's mean is ``sums / counts``).
        categories: categorical: the named categories, most frequent first.
        distinct: distinct non-null values (counted up to ``MAX_CATEGORIES + 1`` for
            categorical columns).
        mean, std, minimum, maximum: numeric moments and range (``nan`` when all null).
    """

    column: str
    kind: Kind
    rows: int
    nulls: int
    counts: list[int]
    edges: list[float] = field(default_factory=list)
    coarse: list[int] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    distinct: int = 0
    mean: float = float("nan")
    std: float = float("nan")
    minimum: float = float("nan")
    maximum: float = float("nan")

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else float("nan")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "column": self.column,
            "kind": self.kind,
            "rows": self.rows,
            "nulls": self.nulls,
            "counts": self.counts,
            "distinct": self.distinct,
        }
        if self.kind == "numeric":
            out |= {
                "edges": self.edges,
                "coarse": self.coarse,
                "sums": self.sums,
                "mean": _json_float(self.mean),
                "std": _json_float(self.std),
                "minimum": _json_float(self.minimum),
                "maximum": _json_float(self.maximum),
            }
        else:
            out["categories"] = self.categories
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ColumnSketch:
        floats = {
            k: float("nan") if data.get(k) is None else float(data[k])
            for k in ("mean", "std", "minimum", "maximum")
        }
        return cls(
            column=str(data["column"]),
            kind=data["kind"],
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            counts=[int(c) for c in data["counts"]],
            edges=[float(e) for e in data.get("edges", [])],
            coarse=[int(i) for i in data.get("coarse", [])],
            sums=[float(v) for v in data.get("sums", [])],
            categories=[str(c) for c in data.get("categories", [])],
            distinct=int(data.get("distinct", 0)),
            **floats,
        )


def _json_float(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _numeric(values: pd.Series) -> np.ndarray:
    """The column as float64 with nulls as NaN (nullable and object numbers included)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(
        values.dtype
    ):
        return values.astype("int64").to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _frequencies(values: pd.Series) -> tuple[pd.Series, int]:
    """Non-null counts per value named as text (most frequent first), and the nulls.

    Values are counted first and named after, so a million rows cost one hash count, not a
    million conversions to text; values whose text is the same (``1`` and ``"1"``) are one.
    """
    counts = values.value_counts(dropna=True, sort=False)
    nulls = int(len(values) - counts.sum())
    if len(counts):
        named = counts.groupby(counts.index.map(str), sort=False, observed=True).sum()
        counts = named[named > 0].sort_values(ascending=False, kind="stable")
    return counts.astype("int64"), nulls


def _sorted_present(x: np.ndarray) -> np.ndarray:
    """The non-null values, sorted (NaN sorts last: the values before it are the rest)."""
    ordered = np.sort(x)
    return ordered[: int(np.searchsorted(ordered, np.inf, side="right"))]


def _sorted_quantiles(ordered: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(ordered, q)`` (linear interpolation) of values already sorted, read off
    by position instead of partitioning them again."""
    position = q * (len(ordered) - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _bin_sorted(present: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and sum of values per bin (``searchsorted(edges, v, side="right")``) of sorted
    values. Sorting once and cutting at the edges is several times faster than looking
    every value up among the edges, the bins being the same."""
    bounds = np.concatenate([[0], np.searchsorted(present, edges, side="left"), [len(present)]])
    running = np.concatenate([[0.0], np.cumsum(present)])
    return np.diff(bounds), np.diff(running[bounds])


def sketch_column(values: pd.Series, *, kind: Kind | None = None) -> ColumnSketch:
    """Summarise one reference column.

    Args:
        values: the column.
        kind: force ``numeric`` or ``categorical``; by default from the dtype.
    """
    kind = kind or column_kind(values)
    name = str(values.name)
    rows = len(values)
    if kind == "numeric":
        present = _sorted_present(_numeric(values))
        if len(present) == 0:
            return ColumnSketch(name, "numeric", rows, rows, counts=[0])
        cuts = _sorted_quantiles(present, np.linspace(0, 1, FINE_BINS + 1))
        edges = np.unique(cuts[1:-1])
        deciles = np.unique(cuts[FINE_BINS // COARSE_BINS : FINE_BINS : FINE_BINS // COARSE_BINS])
        counts, sums = _bin_sorted(present, edges)
        return ColumnSketch(
            column=name,
            kind="numeric",
            rows=rows,
            nulls=rows - len(present),
            counts=counts.tolist(),
            edges=edges.tolist(),
            coarse=np.searchsorted(edges, deciles).tolist(),
            sums=sums.tolist(),
            distinct=int(1 + np.count_nonzero(np.diff(present))),
            mean=float(present.mean()),
            std=float(present.std()),
            minimum=float(present[0]),
            maximum=float(present[-1]),
        )
    frequencies, nulls = _frequencies(values)
    named = [str(c) for c in frequencies.index[:MAX_CATEGORIES]]
    named_counts = [int(c) for c in frequencies.iloc[:MAX_CATEGORIES]]
    named_counts.append(int(frequencies.iloc[MAX_CATEGORIES:].sum()))
    return ColumnSketch(
        column=name,
        kind="categorical",
        rows=rows,
        nulls=nulls,
        counts=named_counts,
        categories=named,
        distinct=len(frequencies),
    )


@dataclass(frozen=True)
class WindowCounts:
    """A window's column binned on a reference sketch's bins.

    Attributes:
        rows: rows in the window, nulls included.
        nulls: nulls among them.
        counts: rows per reference bin (categorical: per named category, then ``other``).
        sums: numeric: the sum of the values in each bin.
        new: categorical: values the reference never saw, with their counts (most frequent
            first); they are not in ``counts``.
        mean, minimum, maximum: numeric moments of the window's values.
    """

    rows: int
    nulls: int
    counts: np.ndarray
    sums: np.ndarray | None = None
    new: dict[str, int] = field(default_factory=dict)
    mean: float = float("nan")
    minimum: float = float("nan")
    maximum: float = float("nan")

    @property
    def non_null(self) -> int:
        return self.rows - self.nulls


def count_window(reference: ColumnSketch, values: pd.Series) -> WindowCounts:
    """Bin a window's ``values`` on the bins of ``reference``."""
    rows = len(values)
    if reference.kind == "numeric":
        present = _sorted_present(_numeric(values))
        counts, sums = _bin_sorted(present, np.asarray(reference.edges, dtype=float))
        if len(present) == 0:
            return WindowCounts(rows, rows, counts, sums)
        return WindowCounts(
            rows=rows,
            nulls=rows - len(present),
            counts=counts,
            sums=sums,
            mean=float(present.mean()),
            minimum=float(present[0]),
            maximum=float(present[-1]),
        )
    frequencies, nulls = _frequencies(values)
    index = {c: i for i, c in enumerate(reference.categories)}
    counts = np.zeros(len(reference.categories) + 1, dtype=np.int64)
    new: dict[str, int] = {}
    # Categories the reference pooled as "other" are not named in it, but it saw them:
    # only a reference with every category named can tell them from new ones.
    complete = reference.distinct <= len(reference.categories)
    for value, count in frequencies.items():
        position = index.get(str(value))
        if position is not None:
            counts[position] += int(count)
        elif complete:
            new[str(value)] = int(count)
        else:
            counts[-1] += int(count)
    return WindowCounts(rows, nulls, counts, new=new)
