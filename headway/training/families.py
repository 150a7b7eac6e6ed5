"""Model families of the search: each a search space (define-by-run) and a fit with early stopping.

A family names the preprocessing it wants: ``ordinal`` (trees: categories as codes) or
``onehot`` (linear models: one column per category, scaled numbers). Every family builds only
scikit-learn-compatible estimators, so that the registered model loads without headway.
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

from headway.exceptions import TrainingError

__all__ = ["FAMILIES", "Fitted", "ModelFamily", "get_families"]

Encoding = Literal["ordinal", "onehot"]

_MAX_TREES = 2000
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


@dataclass(frozen=True)
class ModelFamily:
    """One family: its search space, how to fit it, and what it needs."""

    name: str
    encoding: Encoding
    suggest: Callable[[optuna.Trial], dict[str, Any]]
    fit: Callable[[str, dict[str, Any], int, Arrays], Fitted]
    requires: str | None = None
    extra: str | None = None


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


def _lightgbm_fit(task: str, params: dict[str, Any], seed: int, a: Arrays) -> Fitted:
    kwargs: dict[str, Any] = dict(
        n_estimators=_MAX_TREES,
        subsample_freq=1,
        random_state=seed,
        deterministic=True,
        force_col_wise=True,
        verbose=-1,
        **{k: v for k, v in params.items() if k != "n_estimators"},
    )
    if a.x_valid is None:  # refit with the rounds cross-validation chose
        kwargs["n_estimators"] = int(params.get("n_estimators", 100))
        model = (
            lgb.LGBMRegressor(**kwargs) if task == "regression" else lgb.LGBMClassifier(**kwargs)
        )
        model.fit(a.x_train, a.y_train, categorical_feature=a.categorical or "auto")
        return Fitted(model, kwargs["n_estimators"])
    model = lgb.LGBMRegressor(**kwargs) if task == "regression" else lgb.LGBMClassifier(**kwargs)
    model.fit(
        a.x_train,
        a.y_train,
        eval_X=a.x_valid,
        eval_y=a.y_valid,
        categorical_feature=a.categorical or "auto",
        callbacks=[lgb.early_stopping(_EARLY_STOPPING, verbose=False)],
    )
    # predict() uses the best iteration that early stopping found.
    return Fitted(model, int(model.best_iteration_ or _MAX_TREES))


def _linear_space(trial: optuna.Trial) -> dict[str, Any]:
    return {"C": trial.suggest_float("linear.C", 1e-3, 1e2, log=True)}


def _linear_fit(task: str, params: dict[str, Any], seed: int, a: Arrays) -> Fitted:
    model: Any
    if task == "regression":
        model = Ridge(alpha=1.0 / params["C"], random_state=seed)
    else:
        model = LogisticRegression(C=params["C"], max_iter=2000, random_state=seed)
    return Fitted(model.fit(a.x_train, a.y_train), 0)


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
    def fit(task: str, params: dict[str, Any], seed: int, a: Arrays) -> Fitted:
        cls = regressor if task == "regression" else classifier
        model = cls(**params, n_jobs=-1, random_state=seed)
        return Fitted(model.fit(a.x_train, a.y_train), 0)

    return fit


FAMILIES: dict[str, ModelFamily] = {
    "lightgbm": ModelFamily("lightgbm", "ordinal", _lightgbm_space, _lightgbm_fit),
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
