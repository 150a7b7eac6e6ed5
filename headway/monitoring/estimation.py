"""Label-free performance estimation for classifiers (confidence-based, as NannyML's CBPE).

If the model's probabilities are calibrated, each prediction's probability *is* the chance
that the label will turn out positive, so the metric a window will show once its labels
arrive can be estimated before they do. The probabilities are first calibrated for the
purpose: isotonic regression of the label on the model's probability, fitted on the
version's validation rows in the reference sample (per class, one against the rest, then
renormalised, for multiclass models). The estimate draws the labels many times from the
calibrated probabilities and scores the model's own (uncalibrated) probabilities and
decisions against each draw: the mean is the estimate, the 2.5 and 97.5 percentiles its
interval. Any metric of the version's task can be estimated this way, and so can the
business value of a binary model.

Assumptions, reported with every estimate:

- the link between inputs and label (the concept) is the one of the reference: a pure
  concept shift, where the same inputs start to mean a different label, leaves the
  probabilities and therefore the estimate unchanged, and only realised performance can
  see it;
- the calibration learnt on the validation rows holds in the window's region of the
  inputs (a covariate shift into regions the reference did not cover weakens it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.isotonic import IsotonicRegression

from headway.evaluation.cost import business_value
from headway.evaluation.metrics import score
from headway.monitoring.reference import LABEL, PARTITION, PREDICTION, PROBA

__all__ = ["ASSUMPTIONS", "Calibrator", "estimate", "fit_calibrator", "reference_scores"]

ASSUMPTIONS = (
    "the inputs-to-label relation (the concept) is unchanged since the reference: a pure "
    "concept shift is invisible to label-free estimation, only realised performance shows it",
    "probabilities are calibrated on the version's validation rows and the calibration "
    "holds in the window's region of the inputs",
)
_MIN_ROWS = 100


@dataclass
class Calibrator:
    """Isotonic calibration, one per class (one for the positive class of a binary model)."""

    classes: list[str]
    curves: list[IsotonicRegression]

    def transform(self, scores: np.ndarray) -> np.ndarray:
        """Calibrated probabilities ``n x k`` from the model's ``n x k`` scores."""
        if len(self.classes) == 2:
            positive = self.curves[0].predict(scores[:, 1])
            return np.column_stack([1.0 - positive, positive])
        out = np.column_stack([c.predict(scores[:, i]) for i, c in enumerate(self.curves)])
        totals = out.sum(axis=1, keepdims=True)
        return np.divide(out, totals, out=np.full_like(out, 1.0 / out.shape[1]), where=totals > 0)


def fit_calibrator(
    sample: pd.DataFrame, scores: np.ndarray, classes: Sequence[str]
) -> Calibrator | None:
    """Fit on the validation rows of the reference sample (``scores`` are the model's
    scores on all of ``sample``); ``None`` with fewer than 100 validation rows or a class
    absent from them."""
    if sample.empty or PARTITION not in sample.columns:
        return None
    valid = (sample[PARTITION] == "valid").to_numpy()
    if valid.sum() < _MIN_ROWS:
        return None
    labels = sample.loc[valid, LABEL].astype(str).to_numpy()
    scores = np.asarray(scores)[valid]
    names = [str(c) for c in classes]
    targets = names[1:] if len(names) == 2 else names
    curves = []
    for name in targets:
        y = labels == name
        if y.all() or not y.any():
            return None
        column = names.index(name)
        curves.append(
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(
                scores[:, column], y.astype(float)
            )
        )
    return Calibrator(names, curves)


def reference_scores(sample: pd.DataFrame, classes: Sequence[str]) -> np.ndarray | None:
    """The model's ``n x k`` scores on the reference sample, where it holds them (the
    positive class's probability of a binary model, one column per class of a multiclass
    one)."""
    if len(classes) == 2:
        if PREDICTION not in sample.columns:
            return None
        p = pd.to_numeric(sample[PREDICTION], errors="coerce").to_numpy(dtype=float)
        return np.column_stack([1.0 - p, p])
    names = [f"{PROBA}{c}" for c in classes]
    if not all(n in sample.columns for n in names):
        return None
    return sample[names].to_numpy(dtype=float)


def estimate(
    metric: str,
    scores: np.ndarray,
    calibrator: Calibrator,
    *,
    threshold: float | None,
    business_values: dict[str, float] | None = None,
    draws: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """The estimated ``metric`` (and business value) of a window of the model's scores."""
    scores = np.asarray(scores, dtype=float)
    keep = np.isfinite(scores).all(axis=1)
    scores = scores[keep]
    out: dict[str, Any] = {
        "metric": metric,
        "method": "cbpe",
        "value": None,
        "interval": None,
        "rows": len(scores),
        "assumptions": list(ASSUMPTIONS),
    }
    if len(scores) == 0:
        return out
    classes = np.asarray(calibrator.classes, dtype=object)
    calibrated = calibrator.transform(scores)
    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(calibrated, axis=1)
    cumulative[:, -1] = 1.0
    values, worth = [], []
    binary = len(classes) == 2
    decided = scores[:, 1] >= (threshold if threshold is not None else 0.5) if binary else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(draws):
            u = rng.random(len(scores))
            drawn = classes[(u[:, None] > cumulative).sum(axis=1)]
            try:
                values.append(score(metric, drawn, scores, classes=classes, threshold=threshold))
            except ValueError:
                continue
            if binary and business_values and decided is not None:
                worth.append(business_value(drawn == classes[1], decided, business_values).per_1000)
    finite = np.asarray([v for v in values if np.isfinite(v)])
    if len(finite):
        out["value"] = float(finite.mean())
        out["interval"] = [float(np.percentile(finite, 2.5)), float(np.percentile(finite, 97.5))]
    if worth:
        out["business_value"] = {
            "per_1000": float(np.mean(worth)),
            "interval": [float(np.percentile(worth, 2.5)), float(np.percentile(worth, 97.5))],
        }
    return out
