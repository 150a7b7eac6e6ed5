"""Behavioural checks of real trained models: determinism, invariance, monotonicity, edges."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from headway import ConfigError
from headway.artifacts import TrainedModel
from headway.config import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.data import Split, split
from headway.datasets import make_churn
from headway.evaluation.behaviour import BehaviourCheck, behaviour_checks
from headway.training import train

DATA = DataConfig(
    source=SourceConfig(path="x.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)
FEATURES = [c for c in make_churn(10).columns if c not in ("customer_id", "observed_at", "churned")]
EDGES = ["edge:missing_values", "edge:unseen_categories", "edge:extreme_values"]


def _config(family: str, trials: int = 1) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_families": [family],
            "budget": {"trials": trials, "timeout_seconds": 60},
            "validation": "holdout",
            "n_workers": 1,
        }
    )


def _parts(task: str = "binary") -> Split:
    data = DATA if task == "binary" else DATA.model_copy(update={"target": "monthly_charges"})
    return split(make_churn(2000, seed=7), data=data, config=SplitConfig(), task=task, seed=0)


@pytest.fixture(scope="module")
def binary() -> tuple[Split, dict[str, TrainedModel]]:
    parts = _parts()
    models = {}
    for family in ("lightgbm", "linear"):
        models[family] = train(
            parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
            config=_config(family), seed=0,
        )  # fmt: skip
    return parts, models


def _by_name(checks: list[BehaviourCheck]) -> dict[str, BehaviourCheck]:
    return {c.name: c for c in checks}


@pytest.mark.parametrize("family", ["lightgbm", "linear"])
def test_edges_determinism_and_invariance(
    binary: tuple[Split, dict[str, TrainedModel]], family: str
) -> None:
    parts, models = binary
    checks = behaviour_checks(
        models[family], parts.test, task="binary", invariant_columns=["customer_id", "contract"]
    )
    assert [c.name for c in checks] == [
        "determinism", "invariance:customer_id", "invariance:contract", *EDGES,
    ]  # fmt: skip
    found = _by_name(checks)
    for name in ["determinism", *EDGES]:
        assert found[name].passed, found[name]
        assert found[name].failing_rows == 0
    assert found["invariance:customer_id"] == BehaviourCheck(
        "invariance:customer_id", True, "not a model input"
    )
    contract = found["invariance:contract"]
    assert not contract.passed and contract.failing_rows > 0
    assert "max change" in contract.detail
    assert all(isinstance(dataclasses.asdict(c), dict) for c in checks)


def test_monotonic_support_tickets_on_the_linear_model(
    binary: tuple[Split, dict[str, TrainedModel]],
) -> None:
    parts, models = binary
    rising = behaviour_checks(
        models["linear"], parts.test, task="binary",
        monotonic={"support_tickets_90d": "increasing"},
    )  # fmt: skip
    assert [c.name for c in rising][1] == "monotonic:support_tickets_90d:increasing"
    assert rising[1].passed and rising[1].failing_rows == 0, rising[1]
    falling = behaviour_checks(
        models["linear"], parts.test, task="binary",
        monotonic={"support_tickets_90d": "decreasing"},
    )  # fmt: skip
    check = falling[1]
    assert check.name == "monotonic:support_tickets_90d:decreasing"
    assert not check.passed and check.failing_rows > 0
    assert "worst by" in check.detail


def test_bad_configuration_fails_before_scoring(
    binary: tuple[Split, dict[str, TrainedModel]],
) -> None:
    parts, models = binary
    model = models["linear"]
    with pytest.raises(ConfigError, match=r"'support_tickets'.*evaluation\.monotonic"):
        behaviour_checks(
            model, parts.test, task="binary", monotonic={"support_tickets": "increasing"}
        )
    with pytest.raises(ConfigError, match=r"'contract'.*categorical"):
        behaviour_checks(model, parts.test, task="binary", monotonic={"contract": "increasing"})
    with pytest.raises(ConfigError, match="'sideways'"):
        behaviour_checks(
            model, parts.test, task="binary",
            monotonic={"tenure_months": "sideways"},  # type: ignore[dict-item]
        )  # fmt: skip
    with pytest.raises(ValueError, match=r"'tenure_months'.*multiclass"):
        behaviour_checks(
            model, parts.test, task="multiclass", monotonic={"tenure_months": "increasing"}
        )
    with pytest.raises(ConfigError, match="'no_such_column'"):
        behaviour_checks(model, parts.test, task="binary", invariant_columns=["no_such_column"])


class _Noisy(BaseEstimator):
    """A model whose probabilities carry fresh random noise on every call."""

    def __init__(self, inner: Any = None) -> None:
        self.inner = inner
        self._rng = np.random.default_rng(0)

    def predict_proba(self, frame: Any) -> np.ndarray:
        proba = np.asarray(self.inner.predict_proba(frame), dtype=float)
        proba = proba + self._rng.uniform(0, 0.01, proba.shape)
        return proba / proba.sum(axis=1, keepdims=True)


def test_a_nondeterministic_model_fails_determinism(
    binary: tuple[Split, dict[str, TrainedModel]],
) -> None:
    parts, models = binary
    noisy = dataclasses.replace(models["lightgbm"], estimator=_Noisy(models["lightgbm"].estimator))
    checks = behaviour_checks(noisy, parts.test, task="binary", n_rows=50)
    determinism = checks[0]
    assert determinism.name == "determinism" and not determinism.passed
    assert determinism.failing_rows == 50
    assert "twice" in determinism.detail
    assert all(c.passed for c in checks[1:])  # noise does not crash the edge cases


def test_a_crash_is_a_failed_edge_check(binary: tuple[Split, dict[str, TrainedModel]]) -> None:
    parts, models = binary

    class Fragile(_Noisy):
        def predict_proba(self, frame: Any) -> np.ndarray:
            if frame.isna().all().any():
                raise RuntimeError("cannot handle\nmissing values")
            return np.asarray(self.inner.predict_proba(frame), dtype=float)

    model = dataclasses.replace(models["linear"], estimator=Fragile(models["linear"].estimator))
    found = _by_name(behaviour_checks(model, parts.test, task="binary", n_rows=30))
    missing = found["edge:missing_values"]
    assert not missing.passed and missing.failing_rows == 30
    assert "RuntimeError: cannot handle missing values" in missing.detail
    assert found["edge:unseen_categories"].passed and found["determinism"].passed


def test_regression_model_runs_every_check() -> None:
    parts = _parts("regression")
    features = [f for f in FEATURES if f not in ("monthly_charges", "total_charges")]
    features.append("churned")
    model = train(
        parts, target="monthly_charges", features=features, task="regression", metric="rmse",
        config=_config("lightgbm"), seed=0,
    )  # fmt: skip
    checks = behaviour_checks(
        model, parts.test, task="regression", invariant_columns=["customer_id", "plan"],
        monotonic={"tenure_months": "increasing"}, n_rows=100,
    )  # fmt: skip
    assert [c.name for c in checks] == [
        "determinism", "invariance:customer_id", "invariance:plan",
        "monotonic:tenure_months:increasing", *EDGES,
    ]  # fmt: skip
    found = _by_name(checks)
    for name in ["determinism", *EDGES]:
        assert found[name].passed, found[name]
    assert found["invariance:customer_id"].detail == "not a model input"
    # the plan sets the price: shuffling it moves the predicted monthly charges
    assert not found["invariance:plan"].passed and found["invariance:plan"].failing_rows > 0
