"""The search over model families, on small real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from headway import ConfigError, TrainingError, load_config
from headway.config import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.data import split
from headway.datasets import make_churn
from headway.evaluation import evaluate
from headway.features.contract import feature_types_of, model_pipeline
from headway.training import TrialRecord, train
from headway.training import families as families_module
from headway.training.families import FAMILIES, Fitted, ModelFamily, get_families

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


def _config(
    *families: str, trials: int = 3, validation: str = "auto", **extra: object
) -> TrainingConfig:
    # One worker (a thread of this process) unless a test asks for more: deterministic, and
    # monkeypatched families are seen.
    return TrainingConfig.model_validate(
        {
            "model_families": list(families),
            "budget": {"trials": trials, "timeout_seconds": 60},
            "validation": validation,
            "n_workers": 1,
            **extra,
        }
    )


# The forests are slow to fit and serve like the other scikit-learn families: slow run.
@pytest.mark.parametrize(
    "family",
    [
        pytest.param(f, marks=[pytest.mark.slow] if f in ("random_forest", "extra_trees") else [])
        for f in sorted(FAMILIES)
    ],
)
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

    def flaky(
        task: str, params: dict, seed: int, arrays: families_module.Arrays, n_jobs: int = 1
    ) -> Fitted:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("out of memory in trial one")
        return linear_fit(task, params, seed, arrays, n_jobs)

    flaky_family = ModelFamily("linear", "onehot", FAMILIES["linear"].suggest, flaky)
    monkeypatch.setitem(FAMILIES, "linear", flaky_family)
    records: list[TrialRecord] = []
    model = train(
        _parts(), target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=_config("linear", trials=3), seed=0, on_trial=records.append,
    )  # fmt: skip
    assert model.n_trials == 3 and model.valid_score > 0.6 and model.n_failed == 1
    assert [r.state for r in records] == ["failed", "complete", "complete"]
    assert records[0].value is None
    assert records[0].error == "linear: RuntimeError: out of memory in trial one"

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
    assert parts.strategy == "hash"  # no timestamp: a row's part follows its id
    model = train(
        parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=_config("lightgbm", "linear", trials=3, validation=validation), seed=0,
    )  # fmt: skip
    report, _ = evaluate(model, parts.test, target="churned", task="binary", metric="roc_auc")
    assert report.metrics["roc_auc"] > 0.6
    fitted = model_pipeline(model.estimator).named_steps["model"]
    n_fit = getattr(fitted, "n_features_in_", None)
    assert n_fit is not None


def test_cross_validation_refits_with_the_rounds_it_chose() -> None:
    parts = _parts()
    model = _train(parts, _config("lightgbm", trials=2, validation="cv"))
    assert model.family == "lightgbm"
    fitted = model_pipeline(model.estimator).named_steps["model"]
    # refit on train + valid with the rounds early stopping chose across the folds, not
    # the ceiling the search fits up to
    assert fitted.n_estimators == model.params["n_estimators"]
    assert 0 < fitted.n_estimators < families_module._MAX_TREES


def test_auto_uses_cv_only_for_small_tables() -> None:
    from headway.training.search import _Prepared

    parts = _parts(rows=1500)
    config = _config("linear")
    small = _Prepared(
        parts, FEATURES, "churned", config=config, task="binary", seed=0, group_column=None
    )
    assert small.cv and len(small.folds_xy) == 5
    # time-ordered folds: every validation fold comes after its training rows
    assert all(len(f[0]) < len(parts.train) + len(parts.valid) for f in small.folds_xy)
    config = _config("linear").model_copy(update={"cv_max_rows": 100})
    large = _Prepared(
        parts, FEATURES, "churned", config=config, task="binary", seed=0, group_column=None
    )
    assert not large.cv and len(large.folds_xy) == 1


def _train(parts, config: TrainingConfig, **kwargs: object):  # type: ignore[no-untyped-def]
    return train(
        parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=config, seed=0, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("executor", ["local", "ray"])
def test_executor_conformance(executor: str) -> None:
    """Every executor: two workers in other processes, the exact trial budget, each trial
    reported once, the best complete trial wins, and its parameters refit bit for bit."""
    if executor == "ray":
        pytest.importorskip("ray")
    parts = _parts(rows=3000)
    records: list[TrialRecord] = []
    config = _config(
        "lightgbm", "linear", trials=6, n_workers=2, validation="holdout", executor=executor
    )
    model = _train(parts, config, on_trial=records.append)
    assert model.executor == executor and model.n_workers == 2
    assert sorted(r.number for r in records) == list(range(6)) and model.n_trials == 6
    workers = {str(r.worker) for r in records}
    assert not any(w.endswith(f":{os.getpid()}") for w in workers)
    # Both local workers start with the search; Ray starts its second worker process when
    # it can, and on a loaded machine the first may have run the whole budget by then.
    assert len(workers) in {"local": {2}, "ray": {1, 2}}[executor]
    complete = [r for r in records if r.state == "complete" and r.value is not None]
    best = max(complete, key=lambda r: (float(r.value or 0), -r.number))
    assert model.valid_score == pytest.approx(best.value, rel=1e-9)
    # The recorded winner, fitted again, gives the same predictions (reproduce relies on it).
    again = _train(parts, config, replay=model.search_params)
    rows = parts.test[list(model.feature_columns)]
    assert np.array_equal(model.estimator.predict_proba(rows), again.estimator.predict_proba(rows))
    assert again.family == model.family and again.params == model.params


def test_remote_ray_needs_a_shared_storage_before_any_work() -> None:
    pytest.importorskip("ray")
    config = _config("linear", executor="ray", ray_address="ray://10.0.0.1:10001")
    with pytest.raises(TrainingError, match=r"training\.optuna_storage"):
        _train(_parts(), config)


def test_class_weights_cost_threshold_and_calibration() -> None:
    parts = _parts(rows=4000)
    plain = _train(parts, _config("linear", trials=1, class_weight="none", calibration="none"))
    weighted = _train(
        parts, _config("linear", trials=1, class_weight="balanced", calibration="none")
    )
    assert weighted.params["class_weight"] == "balanced" and "class_weight" not in plain.params
    rows = parts.test[list(plain.feature_columns)]
    # balanced weights raise the predicted probability of the rare class
    assert (
        weighted.estimator.predict_proba(rows)[:, 1].mean()
        > plain.estimator.predict_proba(rows)[:, 1].mean() + 0.05
    )
    costly_misses = _train(
        parts,
        _config(
            "linear", trials=1, threshold="cost", costs={"false_positive": 1, "false_negative": 20}
        ),
    )
    costly_alarms = _train(
        parts,
        _config(
            "linear", trials=1, threshold="cost", costs={"false_positive": 20, "false_negative": 1}
        ),
    )
    assert costly_misses.threshold < costly_alarms.threshold  # type: ignore[operator]
    calibrated = _train(
        parts, _config("linear", trials=1, calibration="isotonic", validation="holdout")
    )
    assert calibrated.calibration == "isotonic"
    assert type(calibrated.estimator.estimator_.estimator).__name__ == "CalibratedClassifierCV"
    report, _ = evaluate(calibrated, parts.test, target="churned", task="binary", metric="roc_auc")
    assert report.metrics["roc_auc"] > 0.6
    with pytest.raises(ValueError, match=r"training\.costs"):
        _config("linear", threshold="cost")


def test_min_cost_threshold_is_exact() -> None:
    from headway.training.search import _min_cost_threshold

    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.35, 0.4, 0.6, 0.7, 0.9])
    # misses cost 10, alarms 1: cut below the first positive (one false alarm at 0.4),
    # halfway between it and the probability below, clear of ties
    assert _min_cost_threshold(y, p, 1, 10) == pytest.approx(0.325)
    # alarms cost 10, misses 1: cut above 0.4 (one missed positive at 0.35)
    assert _min_cost_threshold(y, p, 10, 1) == pytest.approx(0.5)


def test_a_threshold_is_never_a_probability_the_rows_share() -> None:
    from headway.training.search import _best_f1_threshold

    rng = np.random.default_rng(3)
    plateaus = rng.choice([0.1, 0.25, 0.4, 0.55, 0.7, 0.85], 2000)  # calibrated: few values
    y = (rng.random(2000) < plateaus).astype(int)
    cut = _best_f1_threshold(y, plateaus)
    assert cut not in set(plateaus.tolist())
    gap = np.min(np.abs(plateaus - cut))
    assert gap == pytest.approx(0.075)  # halfway between two plateaus


def test_refit_fits_the_winner_on_train_and_validation() -> None:
    parts = _parts(rows=3000)
    config = _config("lightgbm", trials=2, validation="holdout", refit=True)
    model = _train(parts, config)
    fitted = model_pipeline(model.estimator).named_steps["model"]
    assert fitted.n_estimators == model.params["n_estimators"]
    assert model.calibration is None  # calibrating on rows the model saw would be biased
    # the preprocessing saw every train + validation row
    pre = model_pipeline(model.estimator).named_steps["preprocess"]
    imputer = pre.named_transformers_["numeric"]
    assert imputer.n_features_in_ > 0
    assert pre.n_features_in_ == len(FEATURES)
    report, _ = evaluate(model, parts.test, target="churned", task="binary", metric="roc_auc")
    assert report.metrics["roc_auc"] > 0.6


def test_pruning_stops_trials_behind_the_median() -> None:
    records: list[TrialRecord] = []
    config = _config("lightgbm", "linear", "extra_trees", trials=14, validation="cv")
    model = _train(_parts(), config, on_trial=records.append)
    pruned = [r for r in records if r.state == "pruned"]
    assert pruned and model.n_pruned == len(pruned)
    assert all(r.value is not None for r in pruned)
    assert all(r.number >= 5 for r in pruned)  # five trials complete before any pruning


@pytest.mark.parametrize("family", ["lightgbm", "xgboost"])
def test_multiclass_with_text_labels(family: str) -> None:
    frame = make_churn(2000, seed=3)
    data = DATA.model_copy(update={"target": "plan", "timestamp_column": None})
    parts = split(frame, data=data, config=SplitConfig(), task="multiclass", seed=0)
    features = [f for f in FEATURES if f not in ("plan", "monthly_charges")]
    model = train(
        parts, target="plan", features=features, task="multiclass", metric="accuracy",
        config=_config(family, trials=1, validation="holdout"), seed=0,
    )  # fmt: skip
    assert model.classes == ("basic", "premium", "standard")
    labels = model.estimator.predict(parts.test[list(model.feature_columns)])
    assert set(labels) <= set(model.classes)
    # better than always predicting the most frequent plan
    majority = parts.test["plan"].value_counts(normalize=True).iloc[0]
    assert (labels == parts.test["plan"].to_numpy()).mean() > majority
