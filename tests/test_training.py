"""The search over model families, on small real data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from headway import ConfigError, TrainingError, load_config
from headway.data import split
from headway.datasets import make_churn
from headway.evaluation import evaluate
from headway.project import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.training import families as families_module
from headway.training import train
from headway.training.families import FAMILIES, Fitted, ModelFamily, get_families
from headway.training.preprocess import feature_types_of

DATA = DataConfig(
    source=SourceConfig(path="x.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)
FEATURES = [c for c in make_churn(10).columns if c not in ("customer_id", "observed_at", "churned")]


def _parts(task: str = "binary", rows: int = 1500):
    frame = make_churn(rows, seed=7)
    data = DATA if task == "binary" else DATA.model_copy(update={"target": "monthly_charges"})
    return split(frame, data=data, config=SplitConfig(), task=task, seed=0)


def _config(*families: str, trials: int = 3, validation: str = "auto") -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_families": list(families),
            "budget": {"trials": trials, "timeout_seconds": 60},
            "validation": validation,
        }
    )


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_family_trains_a_servable_pipeline(family: str) -> None:
    parts = _parts()
    model = train(
        parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=_config(family, trials=2), seed=0,
    )  # fmt: skip
    assert model.family == family and set(model.leaderboard) == {family}
    assert model.valid_score > 0.6
    assert 0 < model.threshold < 1
    types = feature_types_of(model.estimator)
    assert set(types.columns) == set(FEATURES)
    report, _ = evaluate(model, parts.test, target="churned", task="binary", metric="roc_auc")
    assert report.metrics["roc_auc"] > 0.6


def test_one_study_over_several_families_is_deterministic() -> None:
    parts = _parts()
    kwargs = dict(target="churned", features=FEATURES, task="binary", metric="roc_auc", seed=3)
    config = _config("lightgbm", "linear", "extra_trees", trials=6)
    a = train(parts, config=config, **kwargs)  # type: ignore[arg-type]
    b = train(parts, config=config, **kwargs)  # type: ignore[arg-type]
    assert len(a.leaderboard) >= 2
    assert a.leaderboard == b.leaderboard and a.family == b.family
    best = max(a.leaderboard.values())
    assert a.valid_score == best
    proba_a = a.estimator.predict_proba(parts.test[list(a.feature_columns)])
    proba_b = b.estimator.predict_proba(parts.test[list(b.feature_columns)])
    # Equal up to the last bits of multithreaded BLAS sums.
    np.testing.assert_allclose(proba_a, proba_b, rtol=0, atol=1e-12)


def test_regression_task() -> None:
    parts = _parts("regression")
    features = [f for f in FEATURES if f not in ("monthly_charges", "total_charges")]
    features.append("churned")
    model = train(
        parts, target="monthly_charges", features=features, task="regression", metric="rmse",
        config=_config("lightgbm", "linear", trials=3), seed=0,
    )  # fmt: skip
    assert model.threshold is None and model.classes is None
    assert model.valid_score < parts.valid["monthly_charges"].std()  # better than the mean


def test_failing_trials_are_skipped_and_all_failing_is_an_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = {"n": 0}
    linear_fit = FAMILIES["linear"].fit

    def flaky(task: str, params: dict, seed: int, arrays: families_module.Arrays) -> Fitted:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory in trial one")
        return linear_fit(task, params, seed, arrays)

    flaky_family = ModelFamily("linear", "onehot", FAMILIES["linear"].suggest, flaky)
    monkeypatch.setitem(FAMILIES, "linear", flaky_family)
    model = train(
        _parts(), target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=_config("linear", trials=3), seed=0,
    )  # fmt: skip
    assert model.n_trials == 3 and model.valid_score > 0.6

    def broken(*args: object) -> Fitted:
        raise ValueError("solver diverged")

    monkeypatch.setitem(
        FAMILIES, "linear", ModelFamily("linear", "onehot", flaky_family.suggest, broken)
    )
    with pytest.raises(TrainingError, match="First error: linear: ValueError: solver diverged"):
        train(
            _parts(), target="churned", features=FEATURES, task="binary", metric="roc_auc",
            config=_config("linear", trials=2), seed=0,
        )  # fmt: skip


def test_unknown_or_missing_family_fails_before_work(tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="unknown model family 'catboost'"):
        get_families(["catboost"])
    with pytest.raises(TrainingError, match="is empty"):
        get_families([])
    text = (
        "name: x\ntask: binary\ndata: {source: {path: d.csv}, target: y}\n"
        "training: {model_families: [lightgbm, xgboostt]}\n"
    )
    (tmp_path / "headway.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"training\.model_families\.1"):
        load_config(tmp_path / "headway.yaml")


@pytest.mark.parametrize("validation", ["holdout", "cv"])
def test_holdout_and_cross_validation(validation: str) -> None:
    frame = make_churn(1500, seed=7)
    data = DATA.model_copy(update={"timestamp_column": None})
    parts = split(frame, data=data, config=SplitConfig(), task="binary", seed=0)
    assert parts.strategy == "random_stratified"
    model = train(
        parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=_config("lightgbm", "linear", trials=3, validation=validation), seed=0,
    )  # fmt: skip
    report, _ = evaluate(model, parts.test, target="churned", task="binary", metric="roc_auc")
    assert report.metrics["roc_auc"] > 0.6
    fitted = model.estimator.estimator.estimator.named_steps["model"]
    n_fit = getattr(fitted, "n_features_in_", None)
    assert n_fit is not None
    if validation == "cv" and model.family == "lightgbm":
        # refit on train + valid with the rounds cross-validation chose
        assert fitted.n_estimators == model.params["n_estimators"]


def test_auto_uses_cv_only_for_small_tables() -> None:
    from headway.training.preprocess import infer_feature_types
    from headway.training.search import _Prepared

    parts = _parts(rows=1500)
    types = infer_feature_types(parts.train, FEATURES)
    small = _Prepared(
        parts, types, "churned", config=_config("linear"), task="binary", seed=0, group_column=None
    )
    assert small.cv and len(small.folds_xy) == 5
    # time-ordered folds: every validation fold comes after its training rows
    assert all(len(f[0]) < len(parts.train) + len(parts.valid) for f in small.folds_xy)
    config = _config("linear").model_copy(update={"cv_max_rows": 100})
    large = _Prepared(
        parts, types, "churned", config=config, task="binary", seed=0, group_column=None
    )
    assert not large.cv and len(large.folds_xy) == 1
