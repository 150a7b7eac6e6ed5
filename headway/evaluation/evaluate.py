"""Evaluate a trained model on the held-out test rows."""

from __future__ import annotations

import numpy as np
import pandas as pd

from headway.artifacts import EvaluationReport, TrainedModel
from headway.evaluation.metrics import bootstrap_interval, compute_metrics, predict_scores, score
from headway.project import HIGHER_IS_BETTER
from headway.training.preprocess import feature_frame

__all__ = ["evaluate"]


def evaluate(
    model: TrainedModel, test: pd.DataFrame, *, target: str, task: str, metric: str, seed: int = 0
) -> tuple[EvaluationReport, np.ndarray]:
    """Score ``model`` on the held-out ``test`` table.

    Returns:
        The report (metrics and a 95% bootstrap interval of the primary metric) and the
        raw scores, so that a champion can be compared on the same rows.
    """
    y = test[target].to_numpy()
    scores = predict_scores(model, feature_frame(test, model), task)
    classes = np.asarray(model.classes) if model.classes is not None else None
    values = compute_metrics(task, y, scores, classes=classes, threshold=model.threshold)
    if metric not in values:
        values[metric] = score(metric, y, scores, classes=classes, threshold=model.threshold)
    interval = bootstrap_interval(metric, y, scores, classes, model.threshold, seed)
    report = EvaluationReport(
        metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric],
        metrics=values,
        intervals={metric: interval},
        n_test=len(test),
    )
    return report, scores
