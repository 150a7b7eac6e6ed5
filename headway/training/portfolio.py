"""The configurations a search starts from: a small portfolio that does well across tables.

The search space is large and the sampler starts from random points; a handful of known good
configurations, tried first, gives a strong model within the first few trials, which the
sampler then refines. The entries follow the libraries' own defaults and the zero-shot and
meta-learned portfolios of AutoML systems (FLAML's default configurations, auto-sklearn's
portfolios), each brought within headway's search space:

- ``linear``: ``C = 1``, scikit-learn's default.
- LightGBM's library defaults (``learning_rate`` 0.1, ``num_leaves`` 31,
  ``min_child_samples`` 20, no row or column sampling, the smallest regularisation the space
  allows); a small-data variant (fewer leaves and rows per leaf, a lower learning rate, some
  column sampling); a larger variant (more leaves, row and column sampling) for big tables.
- XGBoost's defaults (``max_depth`` 6, ``min_child_weight`` 1, ``reg_lambda`` 1, no
  sampling; ``learning_rate`` 0.1) and a shallower (depth 4), sampled variant.
- Extra trees and random forest as they do well by default on most tables: deep trees
  (``max_depth`` 16, the space's ceiling), small leaves, 200 trees, a share of the features
  per split.

They are ordered cheapest first, so that a small budget still runs the cheap, strong ones:
linear, the boosting defaults, their variants, the forests, then the large LightGBM.
Only the searched families' entries are returned, with the parameter names and values the
search space suggests (``family`` when more than one family is searched, ``class_weight``
when the search chooses it); every value lies inside its distribution, so that Optuna runs
the configuration as given instead of sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["PORTFOLIO", "portfolio"]

# (family, its parameters as the family's search space names them), cheapest first.
PORTFOLIO: tuple[tuple[str, dict[str, Any]], ...] = (
    ("linear", {"linear.C": 1.0}),
    (
        "lightgbm",
        {  # LightGBM's defaults
            "lightgbm.learning_rate": 0.1,
            "lightgbm.num_leaves": 31,
            "lightgbm.min_child_samples": 20,
            "lightgbm.subsample": 1.0,
            "lightgbm.colsample_bytree": 1.0,
            "lightgbm.reg_lambda": 1e-3,
            "lightgbm.reg_alpha": 1e-3,
        },
    ),
    (
        "xgboost",
        {  # XGBoost's defaults, at a learning rate of 0.1
            "xgboost.learning_rate": 0.1,
            "xgboost.max_depth": 6,
            "xgboost.min_child_weight": 1.0,
            "xgboost.subsample": 1.0,
            "xgboost.colsample_bytree": 1.0,
            "xgboost.reg_lambda": 1.0,
            "xgboost.reg_alpha": 1e-3,
        },
    ),
    (
        "lightgbm",
        {  # small data: few, small leaves, a lower rate, column sampling
            "lightgbm.learning_rate": 0.05,
            "lightgbm.num_leaves": 15,
            "lightgbm.min_child_samples": 10,
            "lightgbm.subsample": 1.0,
            "lightgbm.colsample_bytree": 0.8,
            "lightgbm.reg_lambda": 0.1,
            "lightgbm.reg_alpha": 1e-3,
        },
    ),
    (
        "xgboost",
        {  # shallow trees, row and column sampling
            "xgboost.learning_rate": 0.05,
            "xgboost.max_depth": 4,
            "xgboost.min_child_weight": 1.0,
            "xgboost.subsample": 0.8,
            "xgboost.colsample_bytree": 0.8,
            "xgboost.reg_lambda": 1.0,
            "xgboost.reg_alpha": 1e-3,
        },
    ),
    (
        "extra_trees",
        {
            "extra_trees.n_estimators": 200,
            "extra_trees.max_depth": 16,
            "extra_trees.min_samples_leaf": 1,
            "extra_trees.max_features": 0.7,
        },
    ),
    (
        "random_forest",
        {
            "random_forest.n_estimators": 200,
            "random_forest.max_depth": 16,
            "random_forest.min_samples_leaf": 2,
            "random_forest.max_features": 0.5,
        },
    ),
    (
        "lightgbm",
        {  # larger tables: many leaves, row and column sampling
            "lightgbm.learning_rate": 0.05,
            "lightgbm.num_leaves": 127,
            "lightgbm.min_child_samples": 20,
            "lightgbm.subsample": 0.8,
            "lightgbm.colsample_bytree": 0.7,
            "lightgbm.reg_lambda": 1.0,
            "lightgbm.reg_alpha": 1e-3,
        },
    ),
)


def portfolio(families: Sequence[str], class_weights: Sequence[str]) -> list[dict[str, Any]]:
    """The portfolio's configurations for the searched ``families``, cheapest first, as
    Optuna parameters of one trial each (for ``study.enqueue_trial``).

    ``family`` is set when more than one family is searched, ``class_weight`` (``"none"``,
    or the first choice when ``"none"`` is not one) when ``class_weights`` has more than one
    choice: the parameters :func:`headway.training.search._suggest` asks for.
    """
    out = []
    weight = "none" if "none" in class_weights else (class_weights[0] if class_weights else "")
    for name, params in PORTFOLIO:
        if name not in families:
            continue
        entry: dict[str, Any] = {}
        if len(families) > 1:
            entry["family"] = name
        entry.update(params)
        if len(class_weights) > 1:
            entry["class_weight"] = weight
        out.append(entry)
    return out
