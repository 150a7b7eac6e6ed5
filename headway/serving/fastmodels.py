"""The fast path's models: a fitted model as plain functions of the float matrix (the
booster or estimator called without its wrapper's per-call overhead), and scikit-learn's
probability calibration reproduced on their response (see :mod:`headway.serving.fastpath`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder

__all__ = ["ModelFunction", "Unsupported", "calibrated", "model_functions", "unwrap"]

ModelFunction = Callable[[np.ndarray], np.ndarray]
"""The model: (float matrix) -> scores, or the response calibration reads."""

_LINEAR = (LogisticRegression, Ridge)
_FORESTS = (
    RandomForestClassifier,
    RandomForestRegressor,
    ExtraTreesClassifier,
    ExtraTreesRegressor,
)


class Unsupported(Exception):
    """The estimator holds something the fast path does not reproduce."""


def model_functions(model: Any, classifier: bool) -> tuple[ModelFunction, ModelFunction | None]:
    """``(score, decision)``: predict_proba (classifiers) or predict, and the decision
    function when the model has one (calibration reads it rather than probabilities, as
    scikit-learn does)."""
    lgb = sys.modules.get("lightgbm.sklearn")
    xgb = sys.modules.get("xgboost.sklearn")
    if lgb is not None and isinstance(model, lgb.LGBMModel):
        return _lightgbm(model, classifier)
    if xgb is not None and isinstance(model, xgb.XGBModel):
        return _xgboost(model, xgb, classifier), _decision(model)
    if isinstance(model, _FORESTS):
        return _forest(model, classifier), _decision(model)
    if isinstance(model, _LINEAR):
        return (model.predict_proba if classifier else model.predict), _decision(model)
    raise Unsupported(f"model {type(model).__name__}")


def _decision(model: Any) -> ModelFunction | None:
    decision = getattr(model, "decision_function", None)
    return None if decision is None else decision


def _lightgbm(model: Any, classifier: bool) -> tuple[ModelFunction, ModelFunction | None]:
    """``LGBMModel.predict_proba`` / ``predict`` / ``decision_function`` on the booster,
    without the wrapper's per-call parameter handling."""
    if callable(getattr(model, "_objective", None)):
        raise Unsupported("LightGBM with a custom objective")
    booster = model.booster_
    n_classes = getattr(model, "n_classes_", 0) if classifier else 0

    # One thread: a request's few rows gain nothing from more, and the OpenMP threads of
    # several worker processes would otherwise fight over the cores.
    def score(x: np.ndarray) -> np.ndarray:
        result = np.asarray(booster.predict(x, num_threads=1))
        if n_classes == 2:
            return np.vstack((1.0 - result, result)).transpose()
        return result

    def raw(x: np.ndarray) -> np.ndarray:
        return np.asarray(booster.predict(x, raw_score=True, num_threads=1))

    return score, (raw if hasattr(model, "decision_function") else None)


def _forest(model: Any, classifier: bool) -> ModelFunction:
    """The forest's average over its trees, one after the other: for the few rows of a
    request this avoids the thread pool that ``predict_proba`` starts on every call."""
    trees = list(model.estimators_)
    if getattr(model, "n_outputs_", 1) != 1:
        raise Unsupported("a forest of several outputs")

    def score(x: np.ndarray) -> np.ndarray:
        x32 = np.ascontiguousarray(x, dtype=np.float32)
        total: np.ndarray
        if classifier:
            total = np.zeros((x32.shape[0], int(model.n_classes_)), dtype=np.float64)
            for tree in trees:
                total += tree.predict_proba(x32, check_input=False)
        else:
            total = np.zeros(x32.shape[0], dtype=np.float64)
            for tree in trees:
                total += tree.predict(x32, check_input=False)
        total /= len(trees)
        return total

    return score


def _xgboost(model: Any, xgb: Any, classifier: bool) -> ModelFunction:
    if isinstance(model, xgb.XGBRFClassifier | xgb.XGBRFRegressor):
        raise Unsupported("XGBoost random forest")
    if classifier and model.objective not in ("binary:logistic", "multi:softprob"):
        raise Unsupported(f"XGBoost objective {model.objective!r}")
    if not classifier and callable(model.objective):
        raise Unsupported("XGBoost with a custom objective")
    booster = model.get_booster().copy()
    booster.set_param({"nthread": 1})  # see _lightgbm: one thread per request
    try:
        iterations = (0, int(model.best_iteration) + 1)
    except AttributeError:
        iterations = (0, 0)
    if model.booster == "gblinear":
        iterations = (0, 0)
    missing = model.missing
    n_classes = int(model.n_classes_) if classifier else 0

    def score(x: np.ndarray) -> np.ndarray:
        result = np.asarray(
            booster.inplace_predict(
                x, iteration_range=iterations, predict_type="value", missing=missing
            )
        )
        if n_classes and not (result.ndim == 2 and result.shape[1] == n_classes):
            return np.vstack((1.0 - result, result)).transpose()
        return result

    return score


def calibrated(
    calibrator: CalibratedClassifierCV,
    pipeline: Pipeline,
    score: ModelFunction,
    decision: ModelFunction | None,
) -> ModelFunction:
    """The calibrated probabilities, as ``CalibratedClassifierCV.predict_proba`` computes
    them from the response of the (one) pipeline its calibrated classifiers hold."""
    parts = []
    classes = np.asarray(pipeline.classes_)
    for calibrated in calibrator.calibrated_classifiers_:
        if unwrap(calibrated.estimator) is not pipeline:
            raise Unsupported("calibrated classifiers of another estimator")
        if calibrated.method not in ("sigmoid", "isotonic"):
            raise Unsupported(f"calibration method {calibrated.method!r}")
        indices = LabelEncoder().fit(calibrated.classes).transform(classes)
        parts.append((np.asarray(indices), list(calibrated.calibrators), len(calibrated.classes)))
    if not parts:
        raise Unsupported("no calibrated classifiers")
    n_out = len(calibrator.classes_)

    def response(x: np.ndarray) -> np.ndarray:
        if decision is not None:
            predictions = np.asarray(decision(x))
        else:
            predictions = np.asarray(score(x))
            if len(classes) == 2:
                predictions = predictions[:, 1]
        return predictions.reshape(-1, 1) if predictions.ndim == 1 else predictions

    def calibrate(x: np.ndarray) -> np.ndarray:
        predictions = response(x)
        n = predictions.shape[0]
        mean = np.zeros((n, n_out))
        for indices, calibrators, n_classes in parts:
            proba = np.zeros((n, n_classes))
            for class_idx, this_pred, fitted in zip(
                indices, predictions.T, calibrators, strict=False
            ):
                if n_classes == 2:
                    class_idx += 1
                proba[:, class_idx] = fitted.predict(this_pred)
            if n_classes == 2:
                proba[:, 0] = 1.0 - proba[:, 1]
            else:
                denominator = np.sum(proba, axis=1)[:, np.newaxis]
                uniform = np.full_like(proba, 1 / n_classes)
                proba = np.divide(proba, denominator, out=uniform, where=denominator != 0)
            proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
            mean += proba
        mean /= len(parts)
        return mean

    return calibrate


def unwrap(node: Any) -> Any:
    while isinstance(node, FrozenEstimator):
        node = node.estimator
    return node
