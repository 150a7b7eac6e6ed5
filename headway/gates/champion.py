"""Scoring a registered version on the candidate's test rows, and the gate around it.

The candidate and the champion are judged on the same rows: the champion is loaded from the
registry, given the raw test columns it takes (and, for forecasting, this table's history
for its lags), and both are compared with a paired bootstrap of the primary metric.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from headway.artifacts import Blessing, EvaluationReport
from headway.config import GateConfig
from headway.evaluation.calibration import paired_bootstrap_delta
from headway.evaluation.metrics import compute_metrics, predict_scores, score
from headway.features.contract import coerce_features, feature_types_of
from headway.gates.blessing import bless
from headway.registry import CHAMPION, ModelRegistry
from headway.tasks import HIGHER_IS_BETTER

__all__ = ["ScoredVersion", "gate", "score_version"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoredVersion:
    """A registered version's scores on a test table."""

    version: str
    report: EvaluationReport | None
    scores: np.ndarray | None
    threshold: float | None

    @property
    def scored(self) -> bool:
        """False when the version could not score the rows (its input columns differ)."""
        return self.report is not None


def score_version(
    estimator: Any,
    version: str,
    test: pd.DataFrame,
    *,
    task: str,
    target: str,
    metric: str,
    history: pd.DataFrame | None = None,
) -> ScoredVersion:
    """Score a loaded registered model on ``test`` (raw columns).

    ``history``: for a forecasting model, the table whose target history feeds its lags.
    """
    if task == "forecast" and history is not None:
        from headway.features.forecast import refresh_history

        estimator = refresh_history(estimator, history)
    try:
        types = feature_types_of(estimator)
        frame = coerce_features(test, types)[list(types.columns)]
    except (KeyError, ValueError) as exc:
        logger.warning("v%s cannot score this holdout: %s", version, exc)
        return ScoredVersion(version, None, None, None)
    y = test[target].to_numpy()
    scores = predict_scores(estimator, frame, task)
    classes = getattr(estimator, "classes_", None)
    threshold = getattr(estimator, "threshold", None)
    metrics = compute_metrics(task, y, scores, classes=classes, threshold=threshold)
    if metric not in metrics:
        metrics[metric] = score(metric, y, scores, classes=classes, threshold=threshold)
    report = EvaluationReport(
        metric=metric,
        higher_is_better=HIGHER_IS_BETTER[metric],
        metrics=metrics,
        intervals={},
        n_test=len(y),
    )
    return ScoredVersion(version, report, scores, threshold)


def gate(
    candidate: EvaluationReport,
    candidate_scores: np.ndarray,
    *,
    candidate_threshold: float | None,
    classes: tuple[Any, ...] | None,
    registry: ModelRegistry,
    model_name: str,
    test: pd.DataFrame,
    task: str,
    target: str,
    config: GateConfig,
    seed: int = 0,
    history: pd.DataFrame | None = None,
    exclude_version: str | None = None,
) -> Blessing:
    """Bless ``candidate`` against ``model_name``'s current champion on the same rows.

    ``exclude_version``: when the candidate itself is the champion (re-gating it), it is
    judged on its bounds alone.
    """
    info = registry.version_by_alias(model_name, CHAMPION)
    if info is None or info.version == exclude_version:
        return bless(candidate, config=config)
    estimator = registry.load_estimator(f"models:/{model_name}/{info.version}")
    champion = score_version(
        estimator,
        info.version,
        test,
        task=task,
        target=target,
        metric=candidate.metric,
        history=history,
    )
    if not champion.scored:
        return bless(candidate, config=config, champion_version=info.version)
    assert champion.scores is not None and champion.report is not None
    change = None
    if config.paired_bootstrap:
        change = paired_bootstrap_delta(
            candidate.metric,
            test[target].to_numpy(),
            candidate_scores,
            champion.scores,
            classes=np.asarray(classes) if classes is not None else None,
            threshold_a=candidate_threshold,
            threshold_b=champion.threshold,
            seed=seed,
            n_boot=config.paired_bootstrap,
        )
    return bless(
        candidate,
        config=config,
        champion=champion.report,
        champion_version=info.version,
        change=change,
    )
