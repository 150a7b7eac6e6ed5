"""Drift tests of one column: a window's rows against the reference's sketch.

Every statistic is computed from counts over the reference's bins
(:mod:`headway.monitoring.sketch`), once per column and window; the column verdict, the
dataset verdict and the report all read the same :class:`ColumnDrift`.

The six statistics (``p`` the reference's bin shares, ``q`` the window's):

=================  ==========================================================  ==========
method             statistic                                                   default
=================  ==========================================================  ==========
``psi``            population stability index, sum (q - p) ln(q / p), shares    0.1
                   floored at 1e-4 (as Evidently does)
``jensen_shannon`` Jensen-Shannon *distance* (square root of the divergence),   0.1
                   logarithm base 2, so it lies in [0, 1]
``hellinger``      Hellinger distance, sqrt(1 - sum sqrt(p q)), in [0, 1]       0.1
``wasserstein``    earth mover's distance between the two binned distributions  0.1
                   (each bin's rows at the bin's mean), divided by the
                   reference's standard deviation (numeric columns)
``ks``             two-sample Kolmogorov-Smirnov statistic on the 100           p < alpha
                   reference-quantile bins, asymptotic p-value (numeric)
``chi_square``     chi-square test of homogeneity of the 2 x k table of counts   p < alpha
=================  ==========================================================  ==========

Nulls are a bin of their own in the binned statistics (PSI, Jensen-Shannon, Hellinger,
chi-square), so a column that starts arriving empty drifts; the Wasserstein distance and
the Kolmogorov-Smirnov statistic see the non-null values only. Numeric columns use the 10
decile bins for the binned statistics and the 100 percentile bins for the other two; the
KS statistic on bins is a lower bound of the exact one (within the largest bin's share,
about 1%), so its p-value errs on the side of fewer alarms.

The automatic choice (:func:`choose_method`) follows Evidently's rules, with one
difference: the *window's* size, not the reference's, picks between a test and a distance,
because it is the window's sampling noise a test has to see through.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats
from scipy.spatial.distance import jensenshannon

from headway.monitoring.sketch import NEW, ColumnSketch, WindowCounts, count_window

__all__ = [
    "DEFAULT_THRESHOLDS",
    "METHODS",
    "P_VALUE_METHODS",
    "SMALL_WINDOW",
    "ColumnDrift",
    "DriftSettings",
    "Method",
    "choose_method",
    "column_statistics",
    "dataset_drift",
    "drift_columns",
]

Method = Literal["psi", "jensen_shannon", "hellinger", "wasserstein", "ks", "chi_square"]
METHODS: tuple[Method, ...] = (
    "psi",
    "jensen_shannon",
    "hellinger",
    "wasserstein",
    "ks",
    "chi_square",
)
P_VALUE_METHODS = frozenset({"ks", "chi_square"})
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
DEFAULT_THRESHOLDS: dict[str, float] = {
    "psi": 0.1,
    "jensen_shannon": 0.1,
    "hellinger": 0.1,
    "wasserstein": 0.1,
}
# Up to this many non-null rows in the window, the automatic choice is a test with a
# p-value (KS or chi-square); above it a distance (Wasserstein or Jensen-Shannon).
SMALL_WINDOW = 1000
# Numeric columns with at most this many distinct reference values are tested as
# categories (Evidently's rule).
FEW_VALUES = 5
_FLOOR = 1e-4


@dataclass(frozen=True)
class ColumnDrift:
    """The drift verdict of one column in one window.

    Attributes:
        column: the column.
        kind: ``numeric`` or ``categorical``.
        method: the statistic that decided.
        statistic: its value.
        threshold: drift when ``statistic > threshold`` (distances), or when ``p_value <
            threshold`` (tests; the threshold is then the per-column significance level).
        p_value: the test's p-value (``None`` for distances).
        drifted: the verdict.
        direction: numeric: ``up`` or ``down`` (the sign of the mean's move); categorical:
            the category whose share grew most, e.g. ``"month-to-month" +12.0pp``.
        rows: the window's rows (nulls included).
        null_rate: the window's share of nulls; ``reference_null_rate`` the reference's.
        statistics: every statistic computed for the column (method -> value), p-values
            under ``<method>_p_value``.
        new_categories: values the reference never saw, with their counts.
        threshold_source: ``fixed`` (a documented default or configured value),
            ``reference`` (from chunks of the reference sample) or ``bonferroni`` (a
            test's significance level, the family-wise level divided by the columns).
        histogram: the shares of reference and window rows per bin (:func:`histogram`).
    """

    column: str
    kind: str
    method: str
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    direction: str | None
    rows: int
    null_rate: float
    reference_null_rate: float
    statistics: dict[str, float] = field(default_factory=dict)
    new_categories: dict[str, int] = field(default_factory=dict)
    threshold_source: str = "fixed"
    histogram: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("statistic", "threshold", "p_value", "null_rate", "reference_null_rate"):
            out[key] = _finite(out[key])
        out["statistics"] = {k: _finite(v) for k, v in self.statistics.items()}
        return out


def _finite(value: float | None) -> float | None:
    if value is None or not np.isfinite(value):
        return None
    return float(value)


def choose_method(reference: ColumnSketch, window_rows: int) -> Method:
    """The automatic method for a column: KS or Wasserstein for numeric columns with more
    than five distinct values, chi-square or Jensen-Shannon for the rest; the test when
    the window has at most :data:`SMALL_WINDOW` non-null rows, the distance above."""
    numeric = reference.kind == "numeric" and (
        reference.distinct < 0 or reference.distinct > FEW_VALUES
    )
    small = window_rows <= SMALL_WINDOW
    if numeric:
        return "ks" if small else "wasserstein"
    return "chi_square" if small else "jensen_shannon"


# -- the statistics ------------------------------------------------------------------


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total > 0 else np.zeros_like(counts, dtype=float)


def psi(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p = np.maximum(_shares(p_counts), _FLOOR)
    q = np.maximum(_shares(q_counts), _FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    return float(jensenshannon(_shares(p_counts), _shares(q_counts), base=2))


def hellinger(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p, q = _shares(p_counts), _shares(q_counts)
    return float(np.sqrt(max(0.0, 1.0 - float(np.sum(np.sqrt(p * q))))))


def chi_square(p_counts: np.ndarray, q_counts: np.ndarray) -> tuple[float, float]:
    table = np.vstack([p_counts, q_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def ks_binned(p_counts: np.ndarray, q_counts: np.ndarray) -> tuple[float, float]:
    n, m = p_counts.sum(), q_counts.sum()
    if n == 0 or m == 0:
        return 0.0, 1.0
    d = float(np.max(np.abs(np.cumsum(p_counts) / n - np.cumsum(q_counts) / m)))
    en = n * m / (n + m)
    return d, float(stats.kstwo.sf(d, max(1, round(en))))


def wasserstein_binned(
    p_counts: np.ndarray, p_sums: np.ndarray, q_counts: np.ndarray, q_sums: np.ndarray
) -> float:
    """Earth mover's distance with each bin's rows at the bin's mean value."""
    p_keep, q_keep = p_counts > 0, q_counts > 0
    if not p_keep.any() or not q_keep.any():
        return float("nan")
    return float(
        stats.wasserstein_distance(
            p_sums[p_keep] / p_counts[p_keep],
            q_sums[q_keep] / q_counts[q_keep],
            u_weights=p_counts[p_keep],
            v_weights=q_counts[q_keep],
        )
    )


def _coarse(counts: np.ndarray, positions: list[int]) -> np.ndarray:
    """Fine bin counts summed into the coarse bins whose edges sit at ``positions``."""
    owner = np.searchsorted(np.asarray(positions, dtype=np.int64), np.arange(len(counts)))
    return np.bincount(owner, weights=counts, minlength=len(positions) + 1)


def _edge(value: float) -> str:
    return f"{value:.4g}"


def histogram(reference: ColumnSketch, window: WindowCounts) -> dict[str, list[Any]]:
    """The shares of reference and window rows per binned-test bin (deciles or categories,
    then nulls), bins empty on both sides left out: what a report overlays."""
    if reference.kind == "numeric":
        ref = np.append(
            _coarse(np.asarray(reference.counts, float), reference.coarse), reference.nulls
        )
        cur = np.append(_coarse(np.asarray(window.counts, float), reference.coarse), window.nulls)
        cuts = [_edge(reference.edges[i]) for i in reference.coarse]
        labels = (
            ([f"< {cuts[0]}"] if cuts else [])
            + [f"{a} to {b}" for a, b in itertools.pairwise(cuts)]
            + ([f">= {cuts[-1]}"] if cuts else ["all"])
            + ["(null)"]
        )
    else:
        ref = np.concatenate([np.asarray(reference.counts, float), [0.0, reference.nulls]])
        cur = np.concatenate(
            [np.asarray(window.counts, float), [float(sum(window.new.values())), window.nulls]]
        )
        labels = [*reference.categories, "(other)", NEW, "(null)"]
    keep = (ref > 0) | (cur > 0)
    return {
        "bins": [label for label, k in zip(labels, keep, strict=True) if k],
        "reference": [round(float(v), 6) for v in _shares(ref)[keep]],
        "current": [round(float(v), 6) for v in _shares(cur)[keep]],
    }


def column_statistics(
    reference: ColumnSketch, window: WindowCounts
) -> tuple[dict[str, float], str | None]:
    """Every statistic that applies to the column, and the direction of its move."""
    out: dict[str, float] = {}
    ref_counts = np.asarray(reference.counts, dtype=float)
    cur_counts = np.asarray(window.counts, dtype=float)
    if reference.kind == "numeric":
        binned_ref = np.append(_coarse(ref_counts, reference.coarse), reference.nulls)
        binned_cur = np.append(_coarse(cur_counts, reference.coarse), window.nulls)
        out["ks"], out["ks_p_value"] = ks_binned(ref_counts, cur_counts)
        if window.sums is not None and reference.sums:
            scale = max(reference.std, 1e-3) if np.isfinite(reference.std) else 1.0
            w = wasserstein_binned(
                ref_counts, np.asarray(reference.sums, dtype=float), cur_counts, window.sums
            )
            out["wasserstein"] = w / scale
        direction = None
        if np.isfinite(window.mean) and np.isfinite(reference.mean):
            direction = "up" if window.mean > reference.mean else "down"
    else:
        new = float(sum(window.new.values()))
        binned_ref = np.concatenate([ref_counts, [0.0, reference.nulls]])
        binned_cur = np.concatenate([cur_counts, [new, window.nulls]])
        names = [*reference.categories, "(other)", NEW, "(null)"]
        grew = _shares(binned_cur) - _shares(binned_ref)
        top = int(np.argmax(grew))
        direction = f"{names[top]} {100 * grew[top]:+.1f}pp" if grew[top] > 0 else None
    out["psi"] = psi(binned_ref, binned_cur)
    out["jensen_shannon"] = js_distance(binned_ref, binned_cur)
    out["hellinger"] = hellinger(binned_ref, binned_cur)
    out["chi_square"], out["chi_square_p_value"] = chi_square(binned_ref, binned_cur)
    return out, direction


# -- a window's columns --------------------------------------------------------------


@dataclass(frozen=True)
class DriftSettings:
    """How columns are tested (the ``monitoring`` section of ``headway.yaml``).

    Attributes:
        method: ``auto`` (:func:`choose_method`) or one of :data:`METHODS` for every column.
        column_methods: a method per column, over ``method``.
        thresholds: distance thresholds per method, over :data:`DEFAULT_THRESHOLDS`.
        threshold_source: ``fixed`` (the thresholds above) or ``reference``: a distance's
            threshold is the mean plus ``z`` standard deviations of its value on chunks of
            the reference sample as large as the window, ``z`` the normal quantile of
            ``1 - alpha / columns``.
        alpha: the family-wise error rate of one window: the tests (KS, chi-square) flag a
            column when its p-value is below ``alpha / columns`` (Bonferroni), so that a
            window without drift raises no alarm with probability at least ``1 - alpha``.
        chunks: reference chunks drawn per column for data-driven thresholds.
        seed: seed of the chunks.
    """

    method: str = "auto"
    column_methods: dict[str, str] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    threshold_source: str = "fixed"
    alpha: float = 0.01
    chunks: int = 40
    seed: int = 0


def _method(name: str, reference: ColumnSketch, rows: int, settings: DriftSettings) -> str:
    chosen = settings.column_methods.get(name, settings.method)
    if chosen == "auto":
        return choose_method(reference, rows)
    if chosen in NUMERIC_ONLY and reference.kind != "numeric":
        # KS and Wasserstein need an order: a categorical column falls back to its pair.
        return "chi_square" if chosen == "ks" else "jensen_shannon"
    return chosen


def _chunk_threshold(
    reference: ColumnSketch,
    sample: pd.Series,
    method: str,
    rows: int,
    settings: DriftSettings,
    z: float,
) -> float | None:
    """Mean + z standard deviations of ``method`` on reference chunks of ``rows`` rows."""
    if len(sample) < 2:
        return None
    rng = np.random.default_rng(settings.seed)
    size = min(rows, len(sample))
    values = []
    for _ in range(settings.chunks):
        chunk = sample.iloc[rng.choice(len(sample), size=size, replace=False)]
        statistic = column_statistics(reference, count_window(reference, chunk))[0].get(method)
        if statistic is not None and np.isfinite(statistic):
            values.append(statistic)
    if len(values) < 2:
        return None
    return float(np.mean(values) + z * np.std(values, ddof=1))


def drift_columns(
    reference: dict[str, ColumnSketch],
    frame: pd.DataFrame,
    settings: DriftSettings | None = None,
    *,
    sample: pd.DataFrame | None = None,
) -> list[ColumnDrift]:
    """Test each reference column of ``frame`` against its sketch.

    Args:
        reference: the sketch of each column to test.
        frame: the window's rows; every column of ``reference`` must be present (schema
            drift is the caller's to report).
        settings: methods and thresholds.
        sample: the reference sample, for data-driven thresholds.
    """
    settings = settings or DriftSettings()
    columns = [c for c in reference if c in frame.columns]
    if not columns:
        return []
    level = settings.alpha / len(columns)
    z = float(stats.norm.isf(level))
    results = []
    for name in columns:
        sketch = reference[name]
        window = count_window(sketch, frame[name])
        values, direction = column_statistics(sketch, window)
        method = _method(name, sketch, window.non_null, settings)
        statistic = values.get(method, float("nan"))
        if method in P_VALUE_METHODS:
            p_value: float | None = values[f"{method}_p_value"]
            threshold, source = level, "bonferroni"
            drifted = bool(p_value is not None and p_value < level)
        else:
            p_value = None
            threshold = settings.thresholds.get(method, DEFAULT_THRESHOLDS[method])
            source = "fixed"
            if settings.threshold_source == "reference" and sample is not None:
                learned = (
                    _chunk_threshold(sketch, sample[name], method, window.rows, settings, z)
                    if name in sample.columns
                    else None
                )
                if learned is not None:
                    threshold, source = learned, "reference"
            drifted = bool(np.isfinite(statistic) and statistic > threshold)
        if window.non_null == 0 and sketch.non_null > 0:
            # A column that arrives empty has drifted, whatever its method says.
            drifted, direction = True, "all null"
        results.append(
            ColumnDrift(
                column=name,
                kind=sketch.kind,
                method=method,
                statistic=float(statistic),
                threshold=float(threshold),
                p_value=p_value,
                drifted=drifted,
                direction=direction,
                rows=window.rows,
                null_rate=window.nulls / window.rows if window.rows else float("nan"),
                reference_null_rate=sketch.null_rate,
                statistics=values,
                new_categories=dict(sorted(window.new.items(), key=lambda kv: -kv[1])[:10]),
                threshold_source=source,
                histogram=histogram(sketch, window),
            )
        )
    return results


def dataset_drift(
    results: Sequence[ColumnDrift],
    *,
    share: float = 0.5,
    weights: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Dataset drift: the (weighted) share of drifted columns reaches ``share``.

    ``weights`` (e.g. the version's feature importance) weigh each column; columns without
    a weight count as the smallest given weight, and all count 1 without weights.
    """
    if not results:
        return {"drifted": False, "share": 0.0, "threshold": share, "columns": 0, "weighted": False}
    if weights:
        floor = min((w for w in weights.values() if w > 0), default=1.0)
        w = np.asarray([max(weights.get(r.column, floor), 0.0) for r in results], dtype=float)
    else:
        w = np.ones(len(results))
    drifted = np.asarray([r.drifted for r in results], dtype=bool)
    value = float(w[drifted].sum() / w.sum()) if w.sum() > 0 else 0.0
    return {
        "drifted": bool(value >= share),
        "share": value,
        "threshold": share,
        "columns": int(drifted.sum()),
        "of": len(results),
        "weighted": bool(weights),
    }
