"""Business value of a binary decision: what the four outcomes of a threshold are worth.

A churn model, for example, earns its keep when a saved churner (true positive: 200 of
value minus a 20 offer) outweighs the offers wasted on customers who would have stayed
(false positive: -20) and the churners missed (false negative: -200)::

    business_value(y_pos, proba >= 0.3, {"true_positive": 180, "false_positive": -20,
                                         "false_negative": -200})
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OUTCOMES", "BusinessValue", "business_value", "expected_value_curve"]

OUTCOMES = ("true_positive", "false_positive", "true_negative", "false_negative")


@dataclass(frozen=True)
class BusinessValue:
    """The value of a set of binary decisions.

    ``counts`` and ``values`` are keyed by the four outcomes (``true_positive``,
    ``false_positive``, ``true_negative``, ``false_negative``); ``values`` holds the value
    of one outcome of each kind (0 where not given), ``total`` their sum over the ``n``
    rows and ``per_1000`` the total per 1000 rows.
    """

    per_1000: float
    total: float
    n: int
    counts: dict[str, int]
    values: dict[str, float]


def _outcome_values(values: dict[str, float]) -> dict[str, float]:
    unknown = [key for key in values if key not in OUTCOMES]
    if unknown:
        raise ValueError(
            f"unknown outcome {unknown[0]!r} in the business values; "
            f"allowed keys: {', '.join(OUTCOMES)}"
        )
    return {key: float(values.get(key, 0.0)) for key in OUTCOMES}


def _as_bool(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array.astype(bool)


def _positive_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2 and proba.shape[1] == 2:
        return proba[:, 1]
    if proba.ndim != 1:
        raise ValueError(
            f"proba must be the positive-class probabilities (n,) or (n, 2), got {proba.shape}"
        )
    return proba


def business_value(
    y_pos: np.ndarray, predicted_pos: np.ndarray, values: dict[str, float]
) -> BusinessValue:
    """The value of predicting ``predicted_pos`` where the truth is ``y_pos``.

    Args:
        y_pos: Whether each row is truly positive (booleans or 0/1).
        predicted_pos: Whether each row is predicted positive (booleans or 0/1).
        values: The value of one outcome of each kind, keyed by a subset of
            ``true_positive``, ``false_positive``, ``true_negative``, ``false_negative``;
            outcomes not given are worth 0.

    Raises:
        ValueError: ``values`` has an unknown key, the arrays differ in length, or they
            are empty.
    """
    per_outcome = _outcome_values(values)
    truth, predicted = _as_bool(y_pos, "y_pos"), _as_bool(predicted_pos, "predicted_pos")
    if len(truth) != len(predicted):
        raise ValueError(
            f"y_pos and predicted_pos differ in length: {len(truth)} vs {len(predicted)}"
        )
    if len(truth) == 0:
        raise ValueError("business_value needs at least one row")
    counts = {
        "true_positive": int(np.sum(truth & predicted)),
        "false_positive": int(np.sum(~truth & predicted)),
        "true_negative": int(np.sum(~truth & ~predicted)),
        "false_negative": int(np.sum(truth & ~predicted)),
    }
    total = float(sum(counts[key] * per_outcome[key] for key in OUTCOMES))
    n = len(truth)
    return BusinessValue(
        per_1000=total / n * 1000, total=total, n=n, counts=counts, values=per_outcome
    )


def expected_value_curve(
    y_pos: np.ndarray,
    proba: np.ndarray,
    values: dict[str, float],
    thresholds: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Value per 1000 rows of predicting positive where ``proba >= threshold``.

    Args:
        y_pos: Whether each row is truly positive (booleans or 0/1).
        proba: Positive-class probabilities, shape (n,) or (n, 2).
        values: Value per outcome, as for :func:`business_value`.
        thresholds: Thresholds to evaluate; 101 from 0 to 1 by default.

    Returns:
        The thresholds and the value per 1000 rows at each, for a plot; the best
        threshold is ``thresholds[np.argmax(value)]``.

    Raises:
        ValueError: ``values`` has an unknown key, or the arrays differ in length or are
            empty.
    """
    per_outcome = _outcome_values(values)
    truth, p = _as_bool(y_pos, "y_pos"), _positive_proba(proba)
    if len(truth) != len(p):
        raise ValueError(f"y_pos and proba differ in length: {len(truth)} vs {len(p)}")
    if len(truth) == 0:
        raise ValueError("expected_value_curve needs at least one row")
    grid = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, float)
    pos_sorted, neg_sorted = np.sort(p[truth]), np.sort(p[~truth])
    # Rows with proba >= t are predicted positive: count them by binary search.
    tp = len(pos_sorted) - np.searchsorted(pos_sorted, grid, side="left")
    fp = len(neg_sorted) - np.searchsorted(neg_sorted, grid, side="left")
    fn = len(pos_sorted) - tp
    tn = len(neg_sorted) - fp
    total = (
        tp * per_outcome["true_positive"]
        + fp * per_outcome["false_positive"]
        + tn * per_outcome["true_negative"]
        + fn * per_outcome["false_negative"]
    )
    return grid, total / len(truth) * 1000
