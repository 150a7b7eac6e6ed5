"""Realised performance once labels arrive, and where a drop comes from.

A window's labelled predictions (feedback joined to the log by prediction id) are scored
with the version's primary metric and a 95% bootstrap interval
(:func:`headway.evaluation.calibration.bootstrap_intervals`, the evaluation's own); the
window *drops* when the whole interval lies on the worse side of the version's evaluated
metric by more than the configured margin (in the metric's units), so that an alarm
states its evidence: the interval, its rows and the margin.

Root cause: each slice (a configured or categorical column's value, or a quartile of a
numeric input) is ranked by how much the window's metric would recover without its rows,
``metric(all but the slice) - metric(all)`` on the better side: the slice that drags the
metric most comes first.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from headway.evaluation.calibration import bootstrap_intervals
from headway.evaluation.cost import business_value
from headway.evaluation.metrics import score
from headway.tasks import HIGHER_IS_BETTER, NUMERIC_TASKS

__all__ = ["business_value_of", "dropped", "realised", "slice_contributions"]

_MIN_SLICE_ROWS = 30


def _score(metric: str, y: np.ndarray, s: np.ndarray, classes: Any, threshold: Any) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return score(metric, y, s, classes=classes, threshold=threshold)
        except ValueError:  # e.g. AUC of a window with one class only
            return float("nan")


def dropped(metric: str, interval: Sequence[float], evaluated: float | None, margin: float) -> bool:
    """Whether the interval lies wholly beyond ``margin`` on the worse side of
    ``evaluated``."""
    if evaluated is None or not np.isfinite(evaluated):
        return False
    low, high = interval
    if not (np.isfinite(low) and np.isfinite(high)):
        return False
    if HIGHER_IS_BETTER[metric]:
        return bool(high < evaluated - margin)
    return bool(low > evaluated + margin)


def realised(
    task: str,
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    *,
    classes: np.ndarray | None,
    threshold: float | None,
    evaluated: float | None,
    margin: float,
    min_rows: int,
    seed: int = 0,
) -> dict[str, Any]:
    """The window's realised ``metric`` with its interval and verdict.

    Args:
        task: the version's task.
        metric: the metric.
        y: the labels that arrived.
        scores: the model's scores on the same rows (probabilities ``n x k``, or values).
        classes: a classifier's classes in score order.
        threshold: a binary classifier's threshold.
        evaluated: the version's metric at evaluation (its test split).
        margin: how far below it (in the metric's units) the interval must lie to alarm.
        min_rows: fewer labelled rows than this: no verdict, and a note saying so.
        seed: seed of the bootstrap.
    """
    rows = len(y)
    out: dict[str, Any] = {
        "metric": metric,
        "value": None,
        "interval": None,
        "rows": rows,
        "evaluated": evaluated,
        "margin": margin,
        "dropped": False,
    }
    if rows < min_rows:
        out["note"] = f"{rows} labelled rows, fewer than the {min_rows} needed for a verdict"
        if rows == 0:
            return out
    value = _score(metric, y, scores, classes, threshold)
    out["value"] = value if np.isfinite(value) else None
    if rows >= min_rows and np.isfinite(value):
        interval = bootstrap_intervals(
            task, y, scores, [metric], classes=classes, threshold=threshold, seed=seed
        )[metric]
        out["interval"] = [float(interval[0]), float(interval[1])]
        out["dropped"] = dropped(metric, interval, evaluated, margin)
    return out


def business_value_of(
    y_pos: np.ndarray, predicted_pos: np.ndarray, values: dict[str, float]
) -> dict[str, Any] | None:
    """The realised value of a binary model's decisions (per 1000 and in total)."""
    if not values or len(y_pos) == 0:
        return None
    result = business_value(y_pos, predicted_pos, values)
    return {
        "per_1000": result.per_1000,
        "total": result.total,
        "rows": result.n,
        "counts": result.counts,
    }


def slice_contributions(
    frame: pd.DataFrame,
    columns: Sequence[str],
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    *,
    classes: np.ndarray | None,
    threshold: float | None,
    task: str | None = None,
    top: int = 10,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Slices ranked by how much the metric recovers without their rows (see the module
    docstring); only slices of at least 30 rows, leaving at least 30. With ``task``, each
    returned slice's metric gets its 95% bootstrap interval (``interval``)."""
    overall = _score(metric, y, scores, classes, threshold)
    if not np.isfinite(overall):
        return []
    better = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    out: list[dict[str, Any]] = []
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and values.nunique() > 10:
            try:
                groups = pd.qcut(values, 4, duplicates="drop").astype(str)
            except ValueError:
                continue
        else:
            groups = values.astype(object).where(values.notna(), "(null)").astype(str)
        for value, index in groups.groupby(groups, observed=True).indices.items():
            if len(index) < _MIN_SLICE_ROWS or len(y) - len(index) < _MIN_SLICE_ROWS:
                continue
            keep = np.ones(len(y), dtype=bool)
            keep[index] = False
            without = _score(metric, y[keep], scores[keep], classes, threshold)
            inside = _score(metric, y[index], scores[index], classes, threshold)
            if not np.isfinite(without):
                continue
            out.append(
                {
                    "column": column,
                    "value": str(value),
                    "rows": len(index),
                    "metric": inside if np.isfinite(inside) else None,
                    "without": without,
                    "contribution": better * (without - overall),
                    "_index": index,
                }
            )
    out.sort(key=lambda s: -float(s["contribution"]))
    ranked = out[:top]
    for found in ranked:
        found["interval"] = None
        if task is None or found["metric"] is None:
            continue
        index = found.pop("_index")
        low, high = bootstrap_intervals(
            task, y[index], scores[index], [metric], classes=classes, threshold=threshold,
            seed=seed,
        )[metric]  # fmt: skip
        if np.isfinite(low) and np.isfinite(high):
            found["interval"] = [float(low), float(high)]
    for found in out:
        found.pop("_index", None)
    return ranked


def as_scores(task: str, outputs: pd.Series, classes: Sequence[str] | None) -> np.ndarray:
    """The model's scores from the logged outputs: ``n x k`` probabilities of a classifier
    (from ``probability``: the positive class's, or one per class), values otherwise."""
    if task in NUMERIC_TASKS:
        return np.asarray([o.get("prediction") for o in outputs], dtype=float)
    names = list(classes or [])
    rows = []
    for o in outputs:
        p = o.get("probability")
        if isinstance(p, dict):
            rows.append([float(p.get(c, np.nan)) for c in names])
        elif p is None:
            rows.append([np.nan] * max(len(names), 2))
        else:
            rows.append([1.0 - float(p), float(p)])
    return np.asarray(rows, dtype=float)
