"""Evaluation stage: metrics of a candidate on the holdout."""

from __future__ import annotations

from headway.evaluation.evaluate import evaluate, evaluation_figures

# metrics first: training imports it while this package may still be initialising.
from headway.evaluation.metrics import compute_metrics, predict_scores, score

__all__ = ["compute_metrics", "evaluate", "evaluation_figures", "predict_scores", "score"]
