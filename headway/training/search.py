"""Search over model families and their hyper-parameters with Optuna, inside a budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import f1_score
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GroupKFold,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.pipeline import Pipeline

from headway.artifacts import TrainedModel
from headway.data.split import Split
from headway.evaluation.metrics import score
from headway.exceptions import TrainingError
from headway.project import HIGHER_IS_BETTER, TrainingConfig
from headway.training.families import Arrays, Fitted, get_families
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
    """The folds trials are scored on, with preprocessing fitted once per fold and encoding.

    Holdout: one fold, train -> valid. Cross-validation: k folds over train + valid
    (time-ordered when the split is by time, by entity when groups are given, stratified for
    classification), and a final refit on all of it.
    """

    def __init__(
        self,
        data: Split,
        types: FeatureTypes,
        target: str,
        *,
        config: TrainingConfig,
        task: str,
        seed: int,
        group_column: str | None,
    ) -> None:
        self.types = types
        rows = len(data.train) + len(data.valid)
        mode = config.validation
        self.cv = mode == "cv" or (mode == "auto" and rows <= config.cv_max_rows)
        self._cache: dict[tuple[str, int], tuple[Any, Arrays]] = {}
        if not self.cv:
            self.folds_xy = [
                (
                    coerce_features(data.train, types),
                    data.train[target].to_numpy(),
                    coerce_features(data.valid, types),
                    data.valid[target].to_numpy(),
                )
            ]
            self.full = None
        else:
            combined = pd.concat([data.train, data.valid])
            x_all = coerce_features(combined, types).reset_index(drop=True)
            y_all = combined[target].to_numpy()
            splitter: Any
            groups = None
            if data.strategy == "time":
                splitter = TimeSeriesSplit(n_splits=config.cv_folds)
            elif group_column is not None:
                splitter = GroupKFold(n_splits=config.cv_folds)
                groups = combined[group_column].astype(str).to_numpy()
            elif task == "regression":
                splitter = KFold(n_splits=config.cv_folds, shuffle=True, random_state=seed)
            else:
                splitter = StratifiedKFold(
                    n_splits=config.cv_folds, shuffle=True, random_state=seed
                )
            self.folds_xy = [
                (x_all.iloc[tr], y_all[tr], x_all.iloc[va], y_all[va])
                for tr, va in splitter.split(x_all, y_all, groups)
            ]
            self.full = (x_all, y_all)
        self.y_scored = np.concatenate([fold[3] for fold in self.folds_xy])

    def _fit(
        self,
        encoding: str,
        x_train: pd.DataFrame,
        y_train: np.ndarray,
        x_valid: pd.DataFrame | None,
        y_valid: np.ndarray | None,
    ) -> tuple[Any, Arrays]:
        pre = build_preprocessor(self.types, encoding).fit(x_train)  # type: ignore[arg-type]
        categorical = list(range(len(self.types.categorical))) if encoding == "ordinal" else []
        valid = pre.transform(x_valid) if x_valid is not None else None
        return pre, Arrays(pre.transform(x_train), y_train, valid, y_valid, categorical)

    def folds(self, encoding: str) -> list[tuple[Any, Arrays]]:
        out = []
        for i, (x_tr, y_tr, x_va, y_va) in enumerate(self.folds_xy):
            if (encoding, i) not in self._cache:
                self._cache[(encoding, i)] = self._fit(encoding, x_tr, y_tr, x_va, y_va)
            out.append(self._cache[(encoding, i)])
        return out

    def refit(self, encoding: str) -> tuple[Any, Arrays]:
        """Preprocessing and arrays over every row (cross-validation's final fit)."""
        assert self.full is not None
        return self._fit(encoding, self.full[0], self.full[1], None, None)

    @property
    def x_any(self) -> pd.DataFrame:
        return self.folds_xy[0][2]


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
    group_column: str | None = None,
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
    prepared = _Prepared(
        data,
        infer_feature_types(data.train, features),
        target,
        config=config,
        task=task,
        seed=seed,
        group_column=group_column,
    )
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
        values, fold_scores, iterations = [], [], []
        for _, arrays in prepared.folds(family.encoding):
            try:
                fitted = family.fit(task, params, seed, arrays)
            except Exception as exc:  # a failing trial is recorded as failed; the search goes on
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                raise
            model = fitted.model
            assert arrays.x_valid is not None and arrays.y_valid is not None
            if task == "regression":
                scores, classes = model.predict(arrays.x_valid), None
            else:
                scores, classes = model.predict_proba(arrays.x_valid), model.classes_
            values.append(score(metric, arrays.y_valid, scores, classes=classes, threshold=None))
            fold_scores.append(scores)
            iterations.append(fitted.best_iteration)
        value = float(np.mean(values))
        if not np.isfinite(value):
            raise optuna.TrialPruned(f"metric {metric} is not finite")
        fitted = Fitted(fitted.model, round(float(np.mean(iterations))))
        scores = np.concatenate(fold_scores)
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
    return _final_model(best, prepared, task, metric, study, seed)


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
    best: dict[str, Any],
    prepared: _Prepared,
    task: str,
    metric: str,
    study: optuna.Study,
    seed: int,
) -> TrainedModel:
    family, fitted = best["family"], best["fitted"]
    params = dict(best["params"])
    if fitted.best_iteration:
        params["n_estimators"] = fitted.best_iteration
    if prepared.cv:
        # Cross-validation scored the parameters; the model is fitted once more on all rows.
        pre, arrays = prepared.refit(family.encoding)
        model = family.fit(task, params, seed, arrays).model
    else:
        pre, _ = prepared.folds(family.encoding)[0]
        model = fitted.model
    pipeline = Pipeline([("preprocess", pre), ("model", model)])
    threshold: float | None = None
    classes: tuple[Any, ...] | None = None
    estimator: Any = pipeline
    if task != "regression":
        classes = tuple(model.classes_.tolist())
    if task == "binary":
        positive = (prepared.y_scored == model.classes_[1]).astype(int)
        threshold = _best_f1_threshold(positive, best["scores"][:, 1])
        estimator = FixedThresholdClassifier(FrozenEstimator(pipeline), threshold=threshold)
        estimator.fit(prepared.x_any, prepared.y_scored[: len(prepared.x_any)])
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
