"""Model families of the search: each a search space (define-by-run) and a fit with early stopping.

A family names the preprocessing it wants: ``ordinal`` (trees: categories as codes) or
``onehot`` (linear models: one column per category, scaled numbers). Every family builds
scikit-learn-compatible estimators that load without headway, except XGBoost classifiers of
labels other than 0..k-1 (:class:`headway.training.estimators.XGBLabelClassifier` encodes
them).

A fit takes the trial's parameters, the seed, the arrays and how many threads it may use.
``class_weight: balanced`` among the parameters weights rows inversely to their class's
frequency (the search tries it on imbalanced classification tasks).

Families marked ``monotone`` (LightGBM, XGBoost) honour ``Arrays.monotone``, one constraint
per preprocessed column, so that a model's score moves one way only in the columns of
``evaluation.monotonic`` whatever the other inputs are.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import optuna
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.utils.class_weight import compute_sample_weight

from headway.exceptions import TrainingError

__all__ = ["FAMILIES", "Fitted", "ModelFamily", "get_families"]

Encoding = Literal["ordinal", "onehot"]

# Boosting stops early (50 rounds without improvement); the cap only bounds a slow learner:
# low learning rates with small leaves need more than 2,000 rounds on some tables.
_MAX_TREES = 5000
_EARLY_STOPPING = 50


@dataclass(frozen=True)
class Fitted:
    """A fitted estimator and the number of boosting rounds it kept (0 when not boosted)."""

    model: Any
    best_iteration: int


@dataclass(frozen=True)
class Arrays:
    """Preprocessed rows to fit on, and the rows that early stopping watches (none on the
    final refit after cross-validation, when the number of rounds is already known)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray | None
    y_valid: np.ndarray | None
    categorical: list[int]
    monotone: tuple[int, ...] = ()
    """Per column of ``x_train``: 1 (the score may only rise with it), -1 (only fall), 0
    (free); empty when nothing is constrained."""

    def sample_weight(self, params: dict[str, Any]) -> np.ndarray | None:
        """Row weights of ``x_train`` when the parameters ask for balanced classes."""
        if params.get("class_weight") != "balanced":
            return None
        return np.asarray(compute_sample_weight("balanced", self.y_train), dtype=float)


@dataclass(frozen=True)
class ModelFamily:
    """One family: its search space, how to fit it, and what it needs."""

    name: str
    encoding: Encoding
    suggest: Callable[[optuna.Trial], dict[str, Any]]
    fit: Callable[[str, dict[str, Any], int, Arrays, int], Fitted]
    requires: str | None = None
    extra: str | None = None
    monotone: bool = False
    """Whether the fit enforces ``Arrays.monotone``."""


def _lightgbm_space(trial: optuna.Trial) -> dict[str, Any]:
    p = "lightgbm."
    return {
        "learning_rate": trial.suggest_float(p + "learning_rate", 0.02, 0.3, log=True),
        "num_leaves": trial.suggest_int(p + "num_leaves", 8, 256, log=True),
        "min_child_samples": trial.suggest_int(p + "min_child_samples", 5, 200, log=True),
        "subsample": trial.suggest_float(p + "subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float(p + "colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float(p + "reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float(p + "reg_alpha", 1e-3, 10.0, log=True),
    }


def _model_params(params: dict[str, Any]) -> dict[str, Any]:
    """The trial's parameters that go to the estimator (not the search's own)."""
    return {k: v for k, v in params.items() if k not in ("n_estimators", "class_weight")}


def _lightgbm_fit(
    task: str, params: dict[str, Any], seed: int, a: Arrays, n_jobs: int = -1
) -> Fitted:
    kwargs: dict[str, Any] = dict(
        n_estimators=_MAX_TREES,
        subsample_freq=1,
        random_state=seed,
        deterministic=True,
        force_col_wise=True,
        n_jobs=n_jobs,
        verbose=-1,
        **_model_params(params),
    )
    if any(a.monotone):
        kwargs["monotone_constraints"] = list(a.monotone)
        kwargs["monotone_constraints_method"] = "intermediate"
    weight = a.sample_weight(params)
    if a.x_valid is None:  # refit with the rounds the search chose
        kwargs["n_estimators"] = int(params.get("n_estimators", 100))
        model = (
            lgb.LGBMRegressor(**kwargs) if task == "regression" else lgb.LGBMClassifier(**kwargs)
        )
        model.fit(
            a.x_train, a.y_train, sample_weight=weight, categorical_feature=a.categorical or "auto"
        )
        return Fitted(model, kwargs["n_estimators"])
    model = lgb.LGBMRegressor(**kwargs) if task == "regression" else lgb.LGBMClassifier(**kwargs)
    eval_y = a.y_valid
    if task != "regression":
        # LightGBM 4.7 encodes the training labels as 0..k-1 (sorted) but not eval_y: give
        # it the same codes, so that string labels, or integers not starting at 0, work.
        eval_y = np.searchsorted(np.unique(a.y_train), np.asarray(a.y_valid))
    model.fit(
        a.x_train,
        a.y_train,
        sample_weight=weight,
        eval_X=a.x_valid,
        eval_y=eval_y,
        categorical_feature=a.categorical or "auto",
        callbacks=[lgb.early_stopping(_EARLY_STOPPING, verbose=False)],
    )
    # predict() uses the best iteration that early stopping found.
    return Fitted(model, int(model.best_iteration_ or _MAX_TREES))


def _xgboost_space(trial: optuna.Trial) -> dict[str, Any]:
    p = "xgboost."
    return {
        "learning_rate": trial.suggest_float(p + "learning_rate", 0.02, 0.3, log=True),
        "max_depth": trial.suggest_int(p + "max_depth", 3, 10),
        "min_child_weight": trial.suggest_float(p + "min_child_weight", 0.5, 50.0, log=True),
        "subsample": trial.suggest_float(p + "subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float(p + "colsample_bytree", 0.4, 1.0),
        "reg_lambda": trial.suggest_float(p + "reg_lambda", 1e-3, 10.0, log=True),
        "reg_alpha": trial.suggest_float(p + "reg_alpha", 1e-3, 10.0, log=True),
    }


def _xgboost_fit(
    task: str, params: dict[str, Any], seed: int, a: Arrays, n_jobs: int = -1
) -> Fitted:
    import xgboost as xgb

    from headway.training.estimators import XGBLabelClassifier

    kwargs: dict[str, Any] = dict(
        n_estimators=_MAX_TREES,
        tree_method="hist",
        random_state=seed,
        n_jobs=n_jobs,
        verbosity=0,
        **_model_params(params),
    )
    if any(a.monotone):
        kwargs["monotone_constraints"] = "(" + ",".join(map(str, a.monotone)) + ")"
    cls: type
    if task == "regression":
        cls = xgb.XGBRegressor
    elif _encoded_labels(a.y_train):
        cls = xgb.XGBClassifier  # loads with plain MLflow + XGBoost
    else:
        cls = XGBLabelClassifier
    weight = a.sample_weight(params)
    if a.x_valid is None:
        kwargs["n_estimators"] = int(params.get("n_estimators", 100))
        model = cls(**kwargs).fit(a.x_train, a.y_train, sample_weight=weight)
        return Fitted(model, kwargs["n_estimators"])
    model = cls(early_stopping_rounds=_EARLY_STOPPING, **kwargs)
    model.fit(
        a.x_train,
        a.y_train,
        sample_weight=weight,
        eval_set=[(a.x_valid, a.y_valid)],
        verbose=False,
    )
    best = int(model.best_iteration) + 1
    # Keep only the rounds early stopping chose: a plain model, without eval_set settings.
    kwargs["n_estimators"] = best
    return Fitted(_truncate_xgboost(model, cls, kwargs), best)


def _encoded_labels(y: np.ndarray) -> bool:
    """Whether class labels already are the integers 0..k-1 that XGBoost wants."""
    if not np.issubdtype(np.asarray(y).dtype, np.integer):
        return False
    labels = np.unique(y)
    return bool(np.array_equal(labels, np.arange(len(labels))))


def _truncate_xgboost(model: Any, cls: type, kwargs: dict[str, Any]) -> Any:
    trimmed = cls(**kwargs)
    trimmed._Booster = model.get_booster()[: kwargs["n_estimators"]]
    for attr in ("n_classes_", "labels_"):  # the rest derive from the booster
        if hasattr(model, attr):
            setattr(trimmed, attr, getattr(model, attr))
    return trimmed


def _linear_space(trial: optuna.Trial) -> dict[str, Any]:
    return {"C": trial.suggest_float("linear.C", 1e-3, 1e2, log=True)}


def _linear_fit(
    task: str, params: dict[str, Any], seed: int, a: Arrays, n_jobs: int = -1
) -> Fitted:
    model: Any
    if task == "regression":
        model = Ridge(alpha=1.0 / params["C"], random_state=seed)
    else:
        model = LogisticRegression(C=params["C"], max_iter=2000, random_state=seed)
    return Fitted(model.fit(a.x_train, a.y_train, sample_weight=a.sample_weight(params)), 0)


def _forest_space(prefix: str) -> Callable[[optuna.Trial], dict[str, Any]]:
    def space(trial: optuna.Trial) -> dict[str, Any]:
        return {
            "n_estimators": trial.suggest_int(prefix + "n_estimators", 50, 250, step=50),
            "max_depth": trial.suggest_int(prefix + "max_depth", 4, 16),
            "min_samples_leaf": trial.suggest_int(prefix + "min_samples_leaf", 1, 50, log=True),
            "max_features": trial.suggest_float(prefix + "max_features", 0.2, 1.0),
        }

    return space


def _forest_fit(classifier: type, regressor: type) -> Callable[..., Fitted]:
    def fit(task: str, params: dict[str, Any], seed: int, a: Arrays, n_jobs: int = -1) -> Fitted:
        cls = regressor if task == "regression" else classifier
        kwargs = {k: v for k, v in params.items() if k != "class_weight"}
        model = cls(**kwargs, n_jobs=n_jobs, random_state=seed)
        return Fitted(model.fit(a.x_train, a.y_train, sample_weight=a.sample_weight(params)), 0)

    return fit


FAMILIES: dict[str, ModelFamily] = {
    "lightgbm": ModelFamily("lightgbm", "ordinal", _lightgbm_space, _lightgbm_fit, monotone=True),
    "xgboost": ModelFamily(
        "xgboost",
        "ordinal",
        _xgboost_space,
        _xgboost_fit,
        requires="xgboost",
        extra="xgboost",
        monotone=True,
    ),
    "linear": ModelFamily("linear", "onehot", _linear_space, _linear_fit),
    "random_forest": ModelFamily(
        "random_forest",
        "ordinal",
        _forest_space("random_forest."),
        _forest_fit(RandomForestClassifier, RandomForestRegressor),
    ),
    "extra_trees": ModelFamily(
        "extra_trees",
        "ordinal",
        _forest_space("extra_trees."),
        _forest_fit(ExtraTreesClassifier, ExtraTreesRegressor),
    ),
}


def get_families(names: list[str]) -> list[ModelFamily]:
    """The families named in ``training.model_families``, checked before any work starts.

    Raises:
        TrainingError: an unknown family, or one whose library is not installed (with the
            ``pip install`` that adds it).
    """
    if not names:
        raise TrainingError("training.model_families is empty; name at least one family")
    out = []
    for name in names:
        family = FAMILIES.get(name)
        if family is None:
            raise TrainingError(
                f"unknown model family {name!r} in training.model_families; "
                f"choose from {sorted(FAMILIES)}"
            )
        if family.requires and importlib.util.find_spec(family.requires) is None:
            hint = f"pip install 'headway[{family.extra}]'"
            raise TrainingError(f"model family {name!r} needs {family.requires}: {hint}")
        out.append(family)
    return out
