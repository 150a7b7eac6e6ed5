"""Hyper-parameter search over LightGBM with Optuna, inside a trial and time budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
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
from headway.training.preprocess import (
    FeatureTypes,
    build_preprocessor,
    coerce_features,
    infer_feature_types,
)

__all__ = ["TrialRecord", "train"]

logger = logging.getLogger(__name__)

_MAX_TREES = 2000
_EARLY_STOPPING = 50


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, handed to ``on_trial`` (e.g. to log it to MLflow)."""

    number: int
    params: dict[str, Any]
    value: float
    best_iteration: int
    duration_seconds: float
    n_trials: int


def _suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 8, 256, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, 200, log=True),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
    }


def _estimator(task: str, params: dict[str, Any], seed: int, n_estimators: int) -> Any:
    common = dict(
        n_estimators=n_estimators,
        subsample_freq=1,
        random_state=seed,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        **params,
    )
    if task == "regression":
        return lgb.LGBMRegressor(**common)
    return lgb.LGBMClassifier(**common)


def _best_f1_threshold(y_pos: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut-off that maximises F1 on the validation rows."""
    candidates = np.unique(np.quantile(proba, np.linspace(0.05, 0.99, 60)))
    f1s = [f1_score(y_pos, (proba >= t).astype(int), zero_division=0) for t in candidates]
    return float(candidates[int(np.argmax(f1s))])


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
    """Search LightGBM hyper-parameters on ``data.valid`` and return the best fitted model.

    The preprocessing is fitted once on ``data.train``; each trial fits LightGBM with early
    stopping on the validation rows. The returned estimator is one scikit-learn object
    (preprocessing + model, and for binary tasks the F1-optimal decision threshold) that
    takes the raw feature columns.

    Raises:
        TrainingError: no trial finished within the budget.
    """
    types: FeatureTypes = infer_feature_types(data.train, features)
    x_train = coerce_features(data.train, types)
    x_valid = coerce_features(data.valid, types)
    y_train = data.train[target].to_numpy()
    y_valid = data.valid[target].to_numpy()
    pre = build_preprocessor(types).fit(x_train)
    a_train, a_valid = pre.transform(x_train), pre.transform(x_valid)
    categorical_idx = list(range(len(types.categorical)))
    direction: Literal["maximize", "minimize"] = (
        "maximize" if HIGHER_IS_BETTER[metric] else "minimize"
    )
    budget = config.budget
    best: dict[str, Any] = {}

    def objective(trial: optuna.Trial) -> float:
        started = time.perf_counter()
        params = _suggest(trial)
        model = _estimator(task, params, seed, _MAX_TREES)
        model.fit(
            a_train,
            y_train,
            eval_X=a_valid,
            eval_y=y_valid,
            categorical_feature=categorical_idx or "auto",
            callbacks=[lgb.early_stopping(_EARLY_STOPPING, verbose=False)],
        )
        if task == "regression":
            scores = model.predict(a_valid)
            classes = None
        else:
            scores = model.predict_proba(a_valid)
            classes = model.classes_
        value = score(metric, y_valid, scores, classes=classes, threshold=None)
        if not np.isfinite(value):
            raise optuna.TrialPruned(f"metric {metric} is not finite")
        is_best = not best or (
            value > best["value"] if direction == "maximize" else value < best["value"]
        )
        if is_best:
            best.update(value=value, model=model, params=params, scores=scores)
        if on_trial is not None:
            on_trial(
                TrialRecord(
                    number=trial.number,
                    params=params,
                    value=value,
                    best_iteration=int(model.best_iteration_ or _MAX_TREES),
                    duration_seconds=time.perf_counter() - started,
                    n_trials=budget.trials,
                )
            )
        return value

    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=budget.trials, timeout=budget.timeout_seconds)
    if not best:
        raise TrainingError(
            f"no trial finished within the budget ({budget.trials} trials, "
            f"{budget.timeout_seconds}s). Raise training.budget.timeout_seconds in headway.yaml."
        )
    model = best["model"]
    pipeline = Pipeline([("preprocess", pre), ("model", model)])
    # Make the pipeline take raw columns: coercion is deterministic, so it is redone by
    # the serving layer on the same declared feature types (see training.preprocess).
    threshold: float | None = None
    classes: tuple[Any, ...] | None = None
    estimator: Any = pipeline
    if task != "regression":
        classes = tuple(model.classes_.tolist())
    if task == "binary":
        threshold = _best_f1_threshold(
            (y_valid == model.classes_[1]).astype(int), best["scores"][:, 1]
        )
        estimator = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=threshold)
        estimator.fit(x_valid, y_valid)
    logger.info("best %s=%.4f after %d trials", metric, best["value"], len(study.trials))
    return TrainedModel(
        family="lightgbm",
        params={**best["params"], "n_estimators": int(model.best_iteration_ or _MAX_TREES)},
        metric=metric,
        valid_score=float(best["value"]),
        n_trials=len(study.trials),
        feature_columns=types.columns,
        categorical_columns=types.categorical,
        classes=classes,
        threshold=threshold,
        estimator=estimator,
    )
