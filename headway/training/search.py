"""Search over model families and their hyper-parameters with Optuna, inside a budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import f1_score
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import Pipeline

from headway.artifacts import TrainedModel
from headway.data.split import Split
from headway.evaluation.metrics import score
from headway.exceptions import TrainingError
from headway.project import HIGHER_IS_BETTER, TrainingConfig
from headway.training.families import Arrays, get_families
from headway.training.preprocess import (
    FeatureTypes,
    build_preprocessor,
    coerce_features,
    infer_feature_types,
)

__all__ = ["TrialRecord", "train"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, handed to ``on_trial`` (e.g. to log it to MLflow)."""

    number: int
    family: str
    params: dict[str, Any]
    value: float
    best_iteration: int
    duration_seconds: float
    n_trials: int


def _best_f1_threshold(y_pos: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut-off that maximises F1 on the validation rows."""
    candidates = np.unique(np.quantile(proba, np.linspace(0.05, 0.99, 60)))
    f1s = [f1_score(y_pos, (proba >= t).astype(int), zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(f1s))])


class _Prepared:
    """Preprocessing fitted once per encoding, and the arrays it produces."""

    def __init__(self, data: Split, types: FeatureTypes, target: str) -> None:
        self.types = types
        self.x_train = coerce_features(data.train, types)
        self.x_valid = coerce_features(data.valid, types)
        self.y_train = data.train[target].to_numpy()
        self.y_valid = data.valid[target].to_numpy()
        self._cache: dict[str, tuple[Any, Arrays]] = {}

    def get(self, encoding: str) -> tuple[Any, Arrays]:
        if encoding not in self._cache:
            pre = build_preprocessor(self.types, encoding).fit(self.x_train)  # type: ignore[arg-type]
            categorical = list(range(len(self.types.categorical))) if encoding == "ordinal" else []
            arrays = Arrays(
                pre.transform(self.x_train),
                self.y_train,
                pre.transform(self.x_valid),
                self.y_valid,
                categorical,
            )
            self._cache[encoding] = (pre, arrays)
        return self._cache[encoding]


def train(
    data: Split,
    *,
    target: str,
    features: list[str],
    task: str,
    metric: str,
    config: TrainingConfig,
    seed: int,
    on_trial: Callable[[TrialRecord], None] | None = None,
) -> TrainedModel:
    """Search model families and their hyper-parameters on ``data.valid``; return the best.

    One Optuna study (TPE, seeded) picks a family per trial, then that family's parameters
    (define-by-run). Each encoding's preprocessing is fitted once on ``data.train``;
    boosting families stop early on the validation rows. The returned estimator is one
    scikit-learn object (preprocessing + model, and for binary tasks the F1-optimal decision
    threshold) that takes the raw feature columns.

    Raises:
        TrainingError: an unknown or uninstalled family (before any work), or no trial
            finished within the budget (with the first trial error, if any).
    """
    families = {f.name: f for f in get_families(list(config.model_families))}
    prepared = _Prepared(data, infer_feature_types(data.train, features), target)
    direction: Literal["maximize", "minimize"] = (
        "maximize" if HIGHER_IS_BETTER[metric] else "minimize"
    )
    budget = config.budget
    best: dict[str, Any] = {}
    errors: list[str] = []

    def objective(trial: optuna.Trial) -> float:
        started = time.perf_counter()
        names = list(families)
        name = names[0] if len(names) == 1 else trial.suggest_categorical("family", names)
        family = families[name]
        params = family.suggest(trial)
        _, arrays = prepared.get(family.encoding)
        try:
            fitted = family.fit(task, params, seed, arrays)
        except Exception as exc:  # a trial that raises is recorded as failed; the search goes on
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
            raise
        model = fitted.model
        if task == "regression":
            scores, classes = model.predict(arrays.x_valid), None
        else:
            scores, classes = model.predict_proba(arrays.x_valid), model.classes_
        value = score(metric, arrays.y_valid, scores, classes=classes, threshold=None)
        if not np.isfinite(value):
            raise optuna.TrialPruned(f"metric {metric} is not finite")
        trial.set_user_attr("family", name)
        better = not best or (
            value > best["value"] if direction == "maximize" else value < best["value"]
        )
        if better:
            best.update(value=value, fitted=fitted, family=family, params=params, scores=scores)
        if on_trial is not None:
            on_trial(
                TrialRecord(
                    number=trial.number,
                    family=name,
                    params=params,
                    value=value,
                    best_iteration=fitted.best_iteration,
                    duration_seconds=time.perf_counter() - started,
                    n_trials=budget.trials,
                )
            )
        return value

    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(
        objective,
        n_trials=budget.trials,
        timeout=budget.timeout_seconds,
        catch=(Exception,),
    )
    if not best:
        first = f" First error: {errors[0]}" if errors else ""
        raise TrainingError(
            f"no trial finished within the budget ({budget.trials} trials, "
            f"{budget.timeout_seconds}s).{first} Raise training.budget.timeout_seconds in "
            "headway.yaml, or remove the failing family."
        )
    return _final_model(best, prepared, task, metric, study)


def _leaderboard(study: optuna.Study, direction: str) -> dict[str, float]:
    board: dict[str, float] = {}
    for trial in study.trials:
        if trial.state != optuna.trial.TrialState.COMPLETE or trial.value is None:
            continue
        name = str(trial.user_attrs.get("family"))
        current = board.get(name)
        if current is None or (
            trial.value > current if direction == "maximize" else trial.value < current
        ):
            board[name] = float(trial.value)
    return board


def _final_model(
    best: dict[str, Any], prepared: _Prepared, task: str, metric: str, study: optuna.Study
) -> TrainedModel:
    family, fitted = best["family"], best["fitted"]
    pre, _ = prepared.get(family.encoding)
    model = fitted.model
    pipeline = Pipeline([("preprocess", pre), ("model", model)])
    threshold: float | None = None
    classes: tuple[Any, ...] | None = None
    estimator: Any = pipeline
    if task != "regression":
        classes = tuple(model.classes_.tolist())
    if task == "binary":
        positive = (prepared.y_valid == model.classes_[1]).astype(int)
        threshold = _best_f1_threshold(positive, best["scores"][:, 1])
        estimator = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=threshold)
        estimator.fit(prepared.x_valid, prepared.y_valid)
    params = dict(best["params"])
    if fitted.best_iteration:
        params["n_estimators"] = fitted.best_iteration
    logger.info(
        "best %s=%.4f (%s) after %d trials", metric, best["value"], family.name, len(study.trials)
    )
    direction = "maximize" if HIGHER_IS_BETTER[metric] else "minimize"
    return TrainedModel(
        family=family.name,
        params=params,
        metric=metric,
        valid_score=float(best["value"]),
        n_trials=len(study.trials),
        feature_columns=prepared.types.columns,
        categorical_columns=prepared.types.categorical,
        classes=classes,
        threshold=threshold,
        estimator=estimator,
        leaderboard=_leaderboard(study, direction),
    )
