"""Slice-based evaluation: metrics per value of a column, flagging slices that lag overall.

A model can look good on the whole holdout and still fail one region or customer segment.
:func:`slice_columns` picks the columns worth slicing on (the configured ones plus every
low-cardinality categorical feature), and :func:`evaluate_slices` computes the task's
metrics per value and flags the values whose primary metric is clearly worse than overall.
"""

from __future__ import annotations

import difflib
import itertools
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from headway.evaluation.calibration import bootstrap_intervals
from headway.evaluation.metrics import _TASK_METRICS, score
from headway.exceptions import ConfigError
from headway.tasks import HIGHER_IS_BETTER

__all__ = ["MISSING_LABEL", "SliceResult", "evaluate_slices", "slice_columns", "slice_labels"]

MISSING_LABEL = "(missing)"
_N_BINS = 4
_TOO_FEW_ROWS = "too few rows"


@dataclass(frozen=True)
class SliceResult:
    """The metrics of the rows where ``column`` has ``value``.

    ``metrics`` is empty when the slice has too few rows; a metric that cannot be computed
    on the slice (one class only) is left out. ``flagged`` is true when the primary metric
    is worse than overall by more than the tolerance *and* the slice's 95% bootstrap
    interval (``interval``) excludes the overall value, so that a small slice is not
    flagged for noise; ``reason`` says by how much (it also notes why a slice was not
    scored, or that a gap is within noise).
    """

    column: str
    value: str
    n: int
    metrics: dict[str, float]
    flagged: bool
    reason: str | None
    interval: tuple[float, float] | None = None


def _is_categorical(series: pd.Series) -> bool:
    """Non-numeric columns (strings, categories, booleans) are sliced on automatically."""
    return pd.api.types.is_bool_dtype(series) or not pd.api.types.is_numeric_dtype(series)


def _check_columns(frame: pd.DataFrame, wanted: list[str], what: str) -> None:
    columns = [str(c) for c in frame.columns]
    for column in wanted:
        if column not in frame.columns:
            close = difflib.get_close_matches(column, columns, n=3)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(
                f"slice column {column!r} ({what}) is not in the data.{hint} "
                f"Columns are: {', '.join(columns[:20])}."
            )


def slice_columns(
    frame: pd.DataFrame,
    features: list[str],
    configured: list[str],
    *,
    max_categories: int = 12,
) -> list[str]:
    """The columns to slice the evaluation on.

    These are the ``configured`` columns, in their order, followed by every non-numeric
    column of ``features`` with 2 to ``max_categories`` distinct non-null values. Numeric
    columns are sliced only when configured; :func:`slice_labels` cuts those with more than
    ``max_categories`` distinct values into quartile bins.

    Raises:
        ConfigError: a configured column is not in ``frame``; the message lists close
            matches.
    """
    _check_columns(frame, configured, "configured")
    chosen = list(dict.fromkeys(configured))
    for column in features:
        if column in chosen or column not in frame.columns:
            continue
        series = frame[column]
        if _is_categorical(series) and 2 <= series.nunique(dropna=True) <= max_categories:
            chosen.append(column)
    return chosen


def _format_edge(value: float) -> str:
    value = float(value)
    if value == 0 or abs(value) >= 1:
        return str(round(value, 3))
    return str(float(f"{value:.3g}"))


def slice_labels(series: pd.Series, *, max_categories: int = 12) -> np.ndarray:
    """The slice label of each row of ``series``, as strings.

    Missing values get the label ``"(missing)"``. A numeric column with more than
    ``max_categories`` distinct values is cut into quartile bins labelled ``"[10.0, 25.5)"``
    (the last bin is closed, ``"[25.5, 80.0]"``); other values are labelled by ``str``.
    """
    missing = series.isna().to_numpy()
    labels = np.full(len(series), MISSING_LABEL, dtype=object)
    present = series[~missing]
    numeric = not _is_categorical(series)
    if numeric and present.nunique() > max_categories:
        values = present.to_numpy(dtype=float)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, _N_BINS + 1)))
        names = [
            f"[{_format_edge(lo)}, {_format_edge(hi)}{']' if i == len(edges) - 2 else ')'}"
            for i, (lo, hi) in enumerate(itertools.pairwise(edges))
        ]
        bins = np.searchsorted(edges[1:-1], values, side="right")
        labels[~missing] = np.asarray(names, dtype=object)[bins]
    else:
        labels[~missing] = [str(v) for v in present.to_numpy()]
    return labels


def _slice_metrics(
    task: str,
    metric: str,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray | None,
    threshold: float | None,
) -> dict[str, float]:
    names = list(_TASK_METRICS[task])
    if metric not in names:
        names.append(metric)
    out: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in names:
            try:
                value = score(name, y, s, classes=classes, threshold=threshold)
            except ValueError:  # e.g. one class only in the slice
                continue
            if math.isfinite(value):
                out[name] = value
    return out


def _format_metric(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 0.1 or value == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def evaluate_slices(
    task: str,
    frame: pd.DataFrame,
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    columns: list[str],
    metric: str,
    classes: np.ndarray | None = None,
    threshold: float | None = None,
    min_rows: int = 30,
    tolerance: float = 0.05,
    max_categories: int = 12,
    n_boot: int = 200,
    seed: int = 0,
) -> list[SliceResult]:
    """Metrics of ``task`` per value of each of ``columns``, flagging the lagging slices.

    Rows of ``frame``, ``y_true`` and ``scores`` correspond by position. Each value of a
    column (missing values as ``"(missing)"``, numeric columns binned as in
    :func:`slice_labels`) is a slice. Slices with fewer than ``min_rows`` rows are listed
    with their size but not scored. A slice is flagged when its ``metric`` is worse than
    the overall value by more than ``tolerance``, relative to ``abs(overall)``, and (with
    ``n_boot`` > 0) the slice's 95% bootstrap interval of ``metric`` lies wholly on the worse
    side of the overall value.

    Returns:
        One result per slice, grouped by column in the order of ``columns``, the worst
        slice of each column first (unscored slices last, largest first).

    Raises:
        ConfigError: a column is not in ``frame``.
        ValueError: ``metric`` is unknown, or the lengths of the inputs differ.
    """
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")
    y_true, scores = np.asarray(y_true), np.asarray(scores)
    if not len(frame) == len(y_true) == len(scores):
        raise ValueError(
            f"frame, y_true and scores differ in length: {len(frame)}, {len(y_true)}, {len(scores)}"
        )
    _check_columns(frame, columns, "to slice on")
    higher = HIGHER_IS_BETTER[metric]
    overall: float | None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            overall = score(metric, y_true, scores, classes=classes, threshold=threshold)
    except ValueError:
        overall = None
    if overall is not None and not math.isfinite(overall):
        overall = None

    results: list[SliceResult] = []
    for column in columns:
        labels = slice_labels(frame[column], max_categories=max_categories)
        scored: list[SliceResult] = []
        unscored: list[SliceResult] = []
        for value in pd.unique(labels):
            mask = labels == value
            n = int(mask.sum())
            if n < min_rows:
                unscored.append(SliceResult(column, str(value), n, {}, False, _TOO_FEW_ROWS))
                continue
            values = _slice_metrics(task, metric, y_true[mask], scores[mask], classes, threshold)
            if metric not in values:
                note = f"{metric} cannot be computed on this slice"
                unscored.append(SliceResult(column, str(value), n, values, False, note))
                continue
            flagged, reason, interval = False, None, None
            if overall is not None:
                change = (values[metric] - overall) / max(abs(overall), 1e-12)
                worse = -change if higher else change
                if worse > tolerance:
                    reason = (
                        f"{metric} {_format_metric(values[metric])} vs "
                        f"{_format_metric(overall)} overall ({change:+.1%})"
                    )
                    flagged = True
                    if n_boot:
                        interval = bootstrap_intervals(
                            task, y_true[mask], scores[mask], [metric], classes=classes,
                            threshold=threshold, seed=seed, n_boot=n_boot,
                        )[metric]  # fmt: skip
                        low, high = interval
                        noise = high >= overall if higher else low <= overall
                        if noise or not (math.isfinite(low) and math.isfinite(high)):
                            flagged = False
                            reason += (
                                f", within noise (95% interval {_format_metric(low)} to "
                                f"{_format_metric(high)})"
                            )
            scored.append(SliceResult(column, str(value), n, values, flagged, reason, interval))
        scored.sort(key=lambda r: (r.metrics[metric] if higher else -r.metrics[metric], r.value))
        unscored.sort(key=lambda r: (-r.n, r.value))
        results.extend(scored + unscored)
    return results
