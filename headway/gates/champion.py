"""Scoring a registered version on the candidate's test rows, and the gate around it.

The candidate and the champion are judged on the same rows: the champion is loaded from the
registry, given the raw test columns it takes (and, for forecasting, this table's history
for its lags), and both are compared with a paired bootstrap of the primary metric.
"""

from __future__ import annotations

import logging
import tempfile
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
from headway.registry import CHAMPION, ModelRegistry, layout
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
    test_keys: np.ndarray | None = None,
) -> Blessing:
    """Bless ``candidate`` against ``model_name``'s current champion on the same rows.

    ``exclude_version``: when the candidate itself is the champion (re-gating it), it is
    judged on its bounds alone. ``test_keys``: the identities of the test rows
    (:func:`headway.data.split.row_identity`); rows the champion trained on (recorded with
    its run) are left out of the comparison, and how many is recorded in the blessing.
    A champion that cannot score the rows, or trained on all of them, is not compared: the
    blessing asks for a person's review.
    """
    info = registry.version_by_alias(model_name, CHAMPION)
    if info is None:
        return bless(candidate, config=config)
    if info.version == exclude_version:
        return bless(candidate, config=config, itself=info.version)
    compared = np.ones(len(test), dtype=bool)
    if test_keys is not None:
        trained = _training_keys(registry, info.run_id)
        if trained is None:
            logger.warning(
                "champion v%s has no record of its training rows: its overlap with this "
                "holdout is not checked",
                info.version,
            )
        else:
            compared = ~np.isin(test_keys, trained)
    dropped = int(len(test) - compared.sum())
    if dropped == len(test):
        return bless(
            candidate,
            config=config,
            champion_version=info.version,
            dropped_rows=dropped,
            not_compared="trained on every row of this holdout",
        )
    rows = test[compared] if dropped else test
    estimator = registry.load_estimator(f"models:/{model_name}/{info.version}")
    champion = score_version(
        estimator,
        info.version,
        rows,
        task=task,
        target=target,
        metric=candidate.metric,
        history=history,
    )
    if not champion.scored:
        return bless(candidate, config=config, champion_version=info.version)
    assert champion.scores is not None and champion.report is not None
    y = rows[target].to_numpy()
    own_scores = candidate_scores[compared] if dropped else candidate_scores
    labels = np.asarray(classes) if classes is not None else None
    compared_value = (
        score(candidate.metric, y, own_scores, classes=labels, threshold=candidate_threshold)
        if dropped
        else None
    )
    change = None
    if config.paired_bootstrap:
        change = paired_bootstrap_delta(
            candidate.metric,
            y,
            own_scores,
            champion.scores,
            classes=labels,
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
        compared_value=compared_value,
        compared_rows=len(rows),
        dropped_rows=dropped,
    )


def _training_keys(registry: ModelRegistry, run_id: str) -> np.ndarray | None:
    """The identities of the rows a registered version learned from, or ``None`` when its
    run did not record them (trained by headway 0.1)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_run_artifact(run_id, layout.TRAINING_KEYS.path, tmp)
        if path is None:
            return None
        keys: np.ndarray = pd.read_parquet(path)["key"].to_numpy(dtype=np.uint64)
    return keys
