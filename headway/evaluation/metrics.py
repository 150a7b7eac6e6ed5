"""Metric functions over true labels and model scores, and bootstrap intervals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from headway.artifacts import TrainedModel
from headway.tasks import HIGHER_IS_BETTER, NUMERIC_TASKS, TASK_METRICS

__all__ = ["bootstrap_interval", "compute_metrics", "predict_scores", "score"]

_N_BOOTSTRAP = 200


def predict_scores(model: TrainedModel | Any, frame: pd.DataFrame, task: str) -> np.ndarray:
    """Probabilities (classification, shape n x k) or values (regression) of a fitted model."""
    estimator = model.estimator if isinstance(model, TrainedModel) else model
    if task in NUMERIC_TASKS:
        return np.asarray(estimator.predict(frame), dtype=float)
    return np.asarray(estimator.predict_proba(frame), dtype=float)


def _labels_from_scores(
    scores: np.ndarray, classes: np.ndarray, threshold: float | None
) -> np.ndarray:
    if scores.shape[1] == 2 and threshold is not None:
        return np.where(scores[:, 1] >= threshold, classes[1], classes[0])
    return classes[np.argmax(scores, axis=1)]


def score(
    metric: str,
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    classes: np.ndarray | None = None,
    threshold: float | None = None,
) -> float:
    """One metric from true labels and model scores (see :func:`predict_scores`)."""
    fn = _METRICS[metric]
    return float(fn(np.asarray(y_true), scores, classes, threshold))


def _binary_pos(y: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    assert classes is not None
    return (y == classes[1]).astype(int)


def _roc_auc(y: np.ndarray, s: np.ndarray, c: np.ndarray | None, t: float | None) -> float:
    if s.ndim == 2 and s.shape[1] == 2:
        return skm.roc_auc_score(_binary_pos(y, c), s[:, 1])
    return skm.roc_auc_score(y, s, multi_class="ovr", labels=c)


def _mape(y: np.ndarray, s: np.ndarray) -> float:
    """Mean absolute percentage error over the rows whose actual value is not zero."""
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    nonzero = y != 0
    if not nonzero.any():
        return float("nan")
    return float(np.mean(np.abs(y[nonzero] - s[nonzero]) / np.abs(y[nonzero])))


def _smape(y: np.ndarray, s: np.ndarray) -> float:
    """Symmetric MAPE in [0, 2]; rows where actual and forecast are both zero count as 0."""
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    denominator = np.abs(y) + np.abs(s)
    ratio = np.divide(2 * np.abs(y - s), denominator, out=np.zeros_like(y), where=denominator > 0)
    return float(np.mean(ratio))


def _wape(y: np.ndarray, s: np.ndarray) -> float:
    """Weighted absolute percentage error: total absolute error over total actual volume."""
    y, s = np.asarray(y, dtype=float), np.asarray(s, dtype=float)
    volume = np.abs(y).sum()
    return float(np.abs(y - s).sum() / volume) if volume > 0 else float("nan")


_METRICS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray | None, float | None], float]] = {
    "roc_auc": _roc_auc,
    "average_precision": lambda y, s, c, t: skm.average_precision_score(_binary_pos(y, c), s[:, 1]),
    # float32 probabilities (XGBoost) sum to 1 only up to rounding: normalise in float64
    "log_loss": lambda y, s, c, t: skm.log_loss(y, s / s.sum(axis=1, keepdims=True), labels=c),
    "brier": lambda y, s, c, t: skm.brier_score_loss(_binary_pos(y, c), s[:, 1]),
    "accuracy": lambda y, s, c, t: skm.accuracy_score(y, _labels_from_scores(s, c, t)),  # type: ignore[arg-type]
    "f1": lambda y, s, c, t: skm.f1_score(
        _binary_pos(y, c),
        _binary_pos(_labels_from_scores(s, c, t), c),  # type: ignore[arg-type]
    ),
    "f1_macro": lambda y, s, c, t: skm.f1_score(
        y,
        _labels_from_scores(s, c, t),  # type: ignore[arg-type]
        average="macro",
    ),
    "rmse": lambda y, s, c, t: float(np.sqrt(skm.mean_squared_error(y, s))),
    "mae": lambda y, s, c, t: skm.mean_absolute_error(y, s),
    "r2": lambda y, s, c, t: skm.r2_score(y, s),
    "mape": lambda y, s, c, t: _mape(y, s),
    "smape": lambda y, s, c, t: _smape(y, s),
    "wape": lambda y, s, c, t: _wape(y, s),
}
assert set(_METRICS) == set(HIGHER_IS_BETTER)

_TASK_METRICS = TASK_METRICS


def compute_metrics(
    task: str,
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    classes: np.ndarray | None = None,
    threshold: float | None = None,
) -> dict[str, float]:
    """All standard metrics of ``task``."""
    return {
        m: score(m, y_true, scores, classes=classes, threshold=threshold)
        for m in _TASK_METRICS[task]
    }


def bootstrap_interval(
    metric: str,
    y: np.ndarray,
    s: np.ndarray,
    classes: np.ndarray | None,
    threshold: float | None,
    seed: int,
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    n = len(y)
    values = []
    for _ in range(_N_BOOTSTRAP):
        idx = rng.integers(0, n, n)
        try:
            values.append(score(metric, y[idx], s[idx], classes=classes, threshold=threshold))
        except ValueError:  # a resample with one class only
            continue
    if not values:
        return (float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))
