"""Calibration of predicted probabilities, and bootstrap intervals that share resamples.

:func:`bootstrap_intervals` and :func:`paired_bootstrap_delta` draw each resample as a
vector of row multiplicities and compute the metrics as weighted sums over the original
rows, many resamples at once; a metric equals :func:`~headway.evaluation.metrics.score`
on the resampled rows, without copying them. Resamples on which a metric is undefined
(one class only) are skipped for that metric.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve

from headway.evaluation.metrics import _labels_from_scores, score
from headway.tasks import HIGHER_IS_BETTER, NUMERIC_TASKS, TASK_METRICS

__all__ = [
    "bootstrap_intervals",
    "calibration_curve_data",
    "expected_calibration_error",
    "paired_bootstrap_delta",
]

# Cells (resamples x rows) of one batch of resample weights: bounds memory on large tables.
_BATCH_CELLS = 2_000_000
_NUMERIC_METRICS = frozenset(m for task in NUMERIC_TASKS for m in TASK_METRICS[task])

# (index arrays of the batch's resamples, their weights b x n) -> b values, NaN if undefined
_Evaluator = Callable[[list[np.ndarray], np.ndarray], np.ndarray]


# --- calibration ------------------------------------------------------------------------


def _calibration_inputs(y_pos: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_pos)
    p = np.asarray(proba, dtype=float)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if y.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"y_pos must be (n,) and proba (n,) or (n, 2); got {y.shape} and {p.shape}"
        )
    if len(y) != len(p):
        raise ValueError(f"y_pos and proba differ in length: {len(y)} vs {len(p)}")
    if len(y) == 0:
        raise ValueError("calibration needs at least one row")
    if np.isnan(p).any() or p.min() < 0 or p.max() > 1:
        raise ValueError("proba must hold probabilities in [0, 1] without NaN")
    return y.astype(bool).astype(int), p


def _bin_sums(y: np.ndarray, p: np.ndarray, n_bins: int) -> tuple[np.ndarray, ...]:
    """Count, sum of outcomes and sum of probabilities per equal-width bin of [0, 1].

    Bins are assigned as in :func:`sklearn.calibration.calibration_curve`.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    count = np.bincount(ids, minlength=n_bins)
    sum_y = np.bincount(ids, weights=y, minlength=n_bins)
    sum_p = np.bincount(ids, weights=p, minlength=n_bins)
    return count, sum_y, sum_p


def expected_calibration_error(y_pos: np.ndarray, proba: np.ndarray, n_bins: int = 10) -> float:
    """Expected calibration error of positive-class probabilities.

    The mean over ``n_bins`` equal-width bins of ``|observed frequency - mean predicted|``,
    weighted by the share of rows in each bin (empty bins count 0).

    Args:
        y_pos: Whether each row is truly positive (booleans or 0/1).
        proba: Positive-class probabilities, shape (n,) or (n, 2).
        n_bins: Number of bins of [0, 1].

    Raises:
        ValueError: the shapes differ, there are no rows, or ``proba`` is not in [0, 1].
    """
    y, p = _calibration_inputs(y_pos, proba)
    _, sum_y, sum_p = _bin_sums(y, p, n_bins)
    # count/n * |sum_y/count - sum_p/count| summed over bins
    return float(np.abs(sum_y - sum_p).sum() / len(y))


def calibration_curve_data(
    y_pos: np.ndarray, proba: np.ndarray, n_bins: int = 10
) -> dict[str, list[float]]:
    """Points of a reliability diagram, one per non-empty equal-width bin.

    Returns:
        ``mean_predicted`` (mean probability of the bin), ``observed`` (share of positives
        in it) and ``count`` (its rows), in order of increasing probability.

    Raises:
        ValueError: the shapes differ, there are no rows, or ``proba`` is not in [0, 1].
    """
    y, p = _calibration_inputs(y_pos, proba)
    count, _, _ = _bin_sums(y, p, n_bins)
    observed, mean_predicted = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    return {
        "mean_predicted": [float(v) for v in mean_predicted],
        "observed": [float(v) for v in observed],
        "count": [int(c) for c in count[count > 0]],
    }


# --- weighted metrics over many resamples -----------------------------------------------


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _mean(per_row: np.ndarray) -> _Evaluator:
    values = np.asarray(per_row, dtype=float)
    return lambda idx, w: (w @ values) / w.sum(axis=1)


def _auc(s: np.ndarray, pos: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Weighted ROC AUC: P(score of a positive > score of a negative), ties counting 1/2."""
    order = np.argsort(s, kind="stable")
    s_sorted, pos_sorted = s[order], pos[order].astype(float)
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])

    def run(w: np.ndarray) -> np.ndarray:
        ws = w[:, order]
        p = np.add.reduceat(ws * pos_sorted, starts, axis=1)
        n = np.add.reduceat(ws * (1.0 - pos_sorted), starts, axis=1)
        below = np.cumsum(n, axis=1) - n
        pairs = p.sum(axis=1) * n.sum(axis=1)
        return _ratio((p * (below + 0.5 * n)).sum(axis=1), pairs)

    return run


def _average_precision(s: np.ndarray, pos: np.ndarray) -> _Evaluator:
    """Weighted average precision, as sklearn: sum of precision x recall step per threshold."""
    order = np.argsort(-s, kind="stable")
    s_sorted, pos_sorted = s[order], pos[order].astype(float)
    ends = np.flatnonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])

    def run(idx: list[np.ndarray], w: np.ndarray) -> np.ndarray:
        ws = w[:, order]
        tps = np.cumsum(ws * pos_sorted, axis=1)[:, ends]
        fps = np.cumsum(ws * (1.0 - pos_sorted), axis=1)[:, ends]
        precision = np.nan_to_num(_ratio(tps, tps + fps))
        steps = np.diff(tps, axis=1, prepend=0.0)
        return _ratio((steps * precision).sum(axis=1), tps[:, -1])

    return run


def _class_index(y: np.ndarray, classes: np.ndarray) -> np.ndarray | None:
    index = pd.Index(classes).get_indexer(y)
    return None if (index < 0).any() else index


def _classification_evaluator(
    metric: str, y: np.ndarray, s: np.ndarray, classes: np.ndarray, threshold: float | None
) -> _Evaluator | None:
    if s.ndim != 2 or s.shape[1] != len(classes) or np.isnan(s).any():
        return None
    k = s.shape[1]
    truth = _class_index(y, classes)
    if truth is None:
        return None
    predicted = _class_index(_labels_from_scores(s, classes, threshold), classes)
    assert predicted is not None
    if metric == "accuracy":
        return _mean(truth == predicted)
    if metric == "log_loss":
        if s.min() < 0 or s.max() > 1:
            return None
        eps = np.finfo(float).eps
        return _mean(-np.log(np.clip(s[np.arange(len(y)), truth], eps, 1 - eps)))
    if metric == "f1_macro":
        true_hot = np.eye(k)[truth]
        pred_hot = np.eye(k)[predicted]
        both = true_hot * pred_hot

        def f1_macro(idx: list[np.ndarray], w: np.ndarray) -> np.ndarray:
            tp, n_true, n_pred = w @ both, w @ true_hot, w @ pred_hot
            present = (n_true + n_pred) > 0
            f1 = np.nan_to_num(_ratio(2 * tp, n_true + n_pred))
            return (f1 * present).sum(axis=1) / present.sum(axis=1)

        return f1_macro
    if metric == "roc_auc":
        if k == 2:
            auc = _auc(s[:, 1], truth == 1)
            return lambda idx, w: auc(w)
        if not np.allclose(s.sum(axis=1), 1.0):
            return None  # sklearn refuses non-probabilities for multiclass AUC
        per_class = [_auc(s[:, c], truth == c) for c in range(k)]
        return lambda idx, w: np.mean([auc(w) for auc in per_class], axis=0)
    if k != 2:
        return None
    pos, pred_pos = truth == 1, predicted == 1
    if metric == "brier":
        return _mean((pos - s[:, 1]) ** 2)
    if metric == "average_precision":
        return _average_precision(s[:, 1], pos)
    if metric == "f1":
        hit, false_alarm, miss = pos & pred_pos, ~pos & pred_pos, pos & ~pred_pos

        def f1(idx: list[np.ndarray], w: np.ndarray) -> np.ndarray:
            tp = w @ hit.astype(float)
            den = 2 * tp + w @ false_alarm.astype(float) + w @ miss.astype(float)
            return np.nan_to_num(_ratio(2 * tp, den))

        return f1
    return None


def _regression_evaluator(metric: str, y: np.ndarray, s: np.ndarray) -> _Evaluator | None:
    if s.ndim != 1 or not np.issubdtype(y.dtype, np.number):
        return None
    y, s = y.astype(float), s.astype(float)
    if np.isnan(y).any() or np.isnan(s).any():
        return None
    error = y - s
    if metric == "mae":
        return _mean(np.abs(error))
    if metric == "rmse":
        mse = _mean(error**2)
        return lambda idx, w: np.sqrt(mse(idx, w))
    if metric == "r2":
        if len(y) < 2:
            return None

        def r2(idx: list[np.ndarray], w: np.ndarray) -> np.ndarray:
            total = w.sum(axis=1)
            centre = (w @ y) / total
            ss_tot = (w * (y[None, :] - centre[:, None]) ** 2).sum(axis=1)
            ss_res = w @ (error**2)
            out = 1.0 - _ratio(ss_res, ss_tot)
            # sklearn's force_finite: a constant target scores 1 if predicted exactly, else 0
            return np.where(ss_tot == 0, np.where(ss_res == 0, 1.0, 0.0), out)

        return r2
    if metric == "mape":
        nonzero = (y != 0).astype(float)
        ape = np.divide(np.abs(error), np.abs(y), out=np.zeros_like(y), where=y != 0)
        return lambda idx, w: _ratio(w @ ape, w @ nonzero)
    if metric == "smape":
        den = np.abs(y) + np.abs(s)
        return _mean(np.divide(2 * np.abs(error), den, out=np.zeros_like(y), where=den > 0))
    if metric == "wape":
        absolute_error, volume = np.abs(error), np.abs(y)
        return lambda idx, w: _ratio(w @ absolute_error, w @ volume)
    return None


def _evaluator(
    metric: str,
    y: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray | None,
    threshold: float | None,
) -> _Evaluator:
    """Values of ``metric`` on a batch of resamples: vectorised, else one resample at a time."""
    fast: _Evaluator | None
    if metric in _NUMERIC_METRICS:
        fast = _regression_evaluator(metric, y, scores)
    elif classes is not None:
        fast = _classification_evaluator(metric, y, scores, classes, threshold)
    else:
        fast = None
    if fast is not None:
        return fast

    def slow(idx: list[np.ndarray], w: np.ndarray) -> np.ndarray:
        out = np.full(len(idx), np.nan)
        for i, rows in enumerate(idx):
            try:
                out[i] = score(metric, y[rows], scores[rows], classes=classes, threshold=threshold)
            except ValueError:  # a resample with one class only
                continue
        return out

    return slow


def _resamples(n: int, n_boot: int, seed: int) -> Iterator[tuple[list[np.ndarray], np.ndarray]]:
    """Batches of bootstrap resamples: their row indices and weights (row multiplicities).

    The random stream matches :func:`headway.evaluation.metrics.bootstrap_interval`: one
    ``integers(0, n, n)`` draw per resample.
    """
    rng = np.random.default_rng(seed)
    batch = max(1, _BATCH_CELLS // max(n, 1))
    for start in range(0, n_boot, batch):
        idx = [rng.integers(0, n, n) for _ in range(min(batch, n_boot - start))]
        weights = np.stack([np.bincount(rows, minlength=n) for rows in idx]).astype(float)
        yield idx, weights


def _interval(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(values, [2.5, 97.5])
    return (float(low), float(high))


def _check_metric(metric: str) -> None:
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}")


def _default_classes(
    classification: bool, y: np.ndarray, classes: np.ndarray | None
) -> np.ndarray | None:
    if classes is not None:
        return np.asarray(classes)
    return np.unique(y) if classification else None


def bootstrap_intervals(
    task: str,
    y: np.ndarray,
    scores: np.ndarray,
    metrics: list[str],
    *,
    classes: np.ndarray | None = None,
    threshold: float | None = None,
    seed: int = 0,
    n_boot: int = 200,
) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap intervals of several metrics over the same resamples.

    Each of the ``n_boot`` resamples draws ``len(y)`` rows with replacement, and every
    metric is computed on it; a resample on which a metric is undefined is skipped for
    that metric. The random stream matches
    :func:`~headway.evaluation.metrics.bootstrap_interval` with the same ``seed``.

    Args:
        task: ``binary``, ``multiclass``, ``regression`` or ``forecast``.
        y: True labels or values.
        scores: Model scores, as from :func:`~headway.evaluation.metrics.predict_scores`.
        metrics: Metric names.
        classes: Class labels in the order of the score columns; by default the sorted
            distinct labels of ``y``.
        threshold: Decision threshold of a binary model (argmax when ``None``).
        seed: Seed of the resampling.
        n_boot: Number of resamples.

    Returns:
        ``(low, high)`` per metric; ``(nan, nan)`` when no resample could be scored.

    Raises:
        ValueError: an unknown task or metric, or ``y`` and ``scores`` differ in length.
    """
    if task not in TASK_METRICS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASK_METRICS)}")
    for metric in metrics:
        _check_metric(metric)
    y, scores = np.asarray(y), np.asarray(scores)
    if len(y) != len(scores):
        raise ValueError(f"y and scores differ in length: {len(y)} vs {len(scores)}")
    classes = _default_classes(task not in NUMERIC_TASKS, y, classes)
    evaluators = {m: _evaluator(m, y, scores, classes, threshold) for m in metrics}
    samples: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for idx, weights in _resamples(len(y), n_boot, seed):
            for metric, evaluate in evaluators.items():
                samples[metric].append(evaluate(idx, weights))
    return {m: _interval(np.concatenate(samples[m])) for m in metrics}


def paired_bootstrap_delta(
    metric: str,
    y: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    *,
    classes: np.ndarray | None = None,
    threshold_a: float | None = None,
    threshold_b: float | None = None,
    seed: int = 0,
    n_boot: int = 500,
) -> tuple[float, float, float]:
    """The difference ``metric(a) - metric(b)`` on the same rows, with a 95% interval.

    Both models are scored on the same resampled rows each time, so the noise they share
    cancels: a candidate ``a`` beats a champion ``b`` beyond noise when the whole interval
    lies on the better side of 0 (above for a higher-is-better metric, below otherwise).

    Args:
        metric: Metric name.
        y: True labels or values.
        scores_a: Scores of model ``a`` on the rows of ``y``.
        scores_b: Scores of model ``b`` on the same rows.
        classes: Class labels in the order of the score columns; by default the sorted
            distinct labels of ``y``.
        threshold_a: Decision threshold of binary model ``a``.
        threshold_b: Decision threshold of binary model ``b``.
        seed: Seed of the resampling.
        n_boot: Number of resamples.

    Returns:
        ``(delta, low, high)``: the observed difference and its 95% percentile interval
        (``nan`` bounds when no resample could be scored).

    Raises:
        ValueError: an unknown metric, the inputs differ in length, or the metric is
            undefined on the full data.
    """
    _check_metric(metric)
    y, scores_a, scores_b = np.asarray(y), np.asarray(scores_a), np.asarray(scores_b)
    if not len(y) == len(scores_a) == len(scores_b):
        raise ValueError(
            f"y, scores_a and scores_b differ in length: {len(y)}, {len(scores_a)}, {len(scores_b)}"
        )
    classes = _default_classes(metric not in _NUMERIC_METRICS, y, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        delta = score(metric, y, scores_a, classes=classes, threshold=threshold_a) - score(
            metric, y, scores_b, classes=classes, threshold=threshold_b
        )
        evaluate_a = _evaluator(metric, y, scores_a, classes, threshold_a)
        evaluate_b = _evaluator(metric, y, scores_b, classes, threshold_b)
        differences = [
            evaluate_a(idx, weights) - evaluate_b(idx, weights)
            for idx, weights in _resamples(len(y), n_boot, seed)
        ]
    low, high = _interval(np.concatenate(differences))
    return (float(delta), low, high)
