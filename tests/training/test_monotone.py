"""``evaluation.monotonic`` enforced while training: the score moves one way by construction."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from headway import ConfigError
from headway.config import TrainingConfig
from headway.data.split import Split
from headway.training import train
from headway.training.search import check_training

FEATURES = ["x", "z", "plan"]


def _parts(task: str, rows: int = 1500, seed: int = 0) -> Split:
    """A table whose target rises and falls with ``x``: sin(x) (binary), (x - 5)^2
    (regression), plus a second number, a category and some missing ``x``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 10, rows)
    z = rng.normal(size=rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    signal = 2.5 * np.sin(x) + 0.5 * z + (plan == "pro")
    if task == "binary":
        y: np.ndarray = (rng.random(rows) < 1 / (1 + np.exp(-signal))).astype(int)
    else:
        y = (x - 5) ** 2 + z + rng.normal(scale=0.5, size=rows)
    frame = pd.DataFrame({"x": x, "z": z, "plan": plan, "y": y})
    frame.loc[rng.random(rows) < 0.05, "x"] = np.nan  # a missing-value indicator column
    n_train, n_valid = int(rows * 0.6), int(rows * 0.2)
    return Split(
        "random",
        frame.iloc[:n_train],
        frame.iloc[n_train : n_train + n_valid],
        frame.iloc[n_train + n_valid :],
    )


def _config(*families: str, validation: str = "holdout") -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_families": list(families) or None,
            "budget": {"trials": 3, "timeout_seconds": 60},
            "validation": validation,
            "n_workers": 1,
        }
    )


def _scores_along_x(model, parts: Split, task: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Scores over a grid of ``x`` (one row per base row of the test part, the other
    columns fixed): shape (base rows, grid points)."""
    grid = np.linspace(-1.0, 11.0, 61)
    base = parts.test[FEATURES].dropna().iloc[:8]
    rows = base.loc[base.index.repeat(len(grid))].reset_index(drop=True)
    rows["x"] = np.tile(grid, len(base))
    if task == "binary":
        scores = model.estimator.predict_proba(rows)[:, 1]
    else:
        scores = model.estimator.predict(rows)
    return np.asarray(scores, dtype=float).reshape(len(base), len(grid))


@pytest.mark.parametrize(
    ("task", "family", "direction", "validation"),
    [
        ("binary", "lightgbm", "increasing", "cv"),
        ("regression", "lightgbm", "decreasing", "holdout"),
        ("binary", "xgboost", "increasing", "holdout"),
        ("regression", "xgboost", "increasing", "cv"),
    ],
)
def test_scores_move_one_way_in_a_monotonic_column(
    task: str, family: str, direction: str, validation: str
) -> None:
    parts = _parts(task)
    model = train(
        parts, target="y", features=FEATURES, task=task,
        metric="roc_auc" if task == "binary" else "rmse",
        config=_config(family, validation=validation), seed=0, monotonic={"x": direction},
    )  # fmt: skip
    assert model.family == family
    assert model.params["monotone_constraints"] == f"x:{direction}"
    steps = np.diff(_scores_along_x(model, parts, task), axis=1)
    if direction == "decreasing":
        steps = -steps
    assert steps.min() >= -1e-9
    assert steps.max() > 0  # x still matters


def test_without_the_setting_the_same_data_gives_a_non_monotone_model() -> None:
    parts = _parts("regression")
    model = train(
        parts, target="y", features=FEATURES, task="regression", metric="rmse",
        config=_config("lightgbm"), seed=0,
    )  # fmt: skip
    assert "monotone_constraints" not in model.params
    assert np.diff(_scores_along_x(model, parts, "regression"), axis=1).min() < 0


def test_the_search_leaves_out_families_that_cannot_enforce_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    parts = _parts("binary", rows=800)
    with caplog.at_level(logging.INFO, logger="headway.training.search"):
        model = train(
            parts, target="y", features=FEATURES, task="binary", metric="roc_auc",
            config=_config("random_forest", "linear", "lightgbm"), seed=0,
            monotonic={"x": "increasing"},
        )  # fmt: skip
    assert set(model.leaderboard) == {"lightgbm"}
    assert "searching without random_forest, linear" in caplog.text
    assert np.diff(_scores_along_x(model, parts, "binary"), axis=1).min() >= -1e-9


def test_only_families_that_cannot_enforce_it_is_a_config_error() -> None:
    config = _config("random_forest", "extra_trees")
    with pytest.raises(ConfigError, match=r"evaluation\.monotonic.*training\.model_families"):
        check_training(config, monotonic={"x": "increasing"})
    with pytest.raises(ConfigError, match="add lightgbm or xgboost"):
        train(
            _parts("binary", rows=200), target="y", features=FEATURES, task="binary",
            metric="roc_auc", config=config, seed=0, monotonic={"x": "increasing"},
        )  # fmt: skip
    check_training(config)  # without the setting they are fine


def test_a_monotonic_column_must_be_a_numeric_feature() -> None:
    parts = _parts("binary", rows=200)
    for column in ("plan", "missing"):
        with pytest.raises(ConfigError, match=rf"evaluation\.monotonic: \['{column}'\]"):
            train(
                parts, target="y", features=FEATURES, task="binary", metric="roc_auc",
                config=_config("lightgbm"), seed=0, monotonic={column: "increasing"},
            )  # fmt: skip
