"""The search's warm start (a portfolio of configurations, cheapest first) and its time budget."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from headway.config import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.data import split
from headway.data.split import Split
from headway.datasets import make_churn
from headway.training import TrialRecord, train
from headway.training.families import FAMILIES
from headway.training.portfolio import PORTFOLIO, portfolio
from headway.training.search import (
    REFIT_MARGIN,
    _Objective,
    _Prepared,
    _suggest,
    refit_reserve,
    time_for_trial,
)

DATA = DataConfig(
    source=SourceConfig(path="x.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)
FEATURES = [c for c in make_churn(10).columns if c not in ("customer_id", "observed_at", "churned")]
ALL = tuple(sorted(FAMILIES))
WEIGHTS = ("none", "balanced")
# Churners are under 20% of the rows and holdout probabilities are calibrated: the search
# chooses the class weights, so the portfolio's entries name one.
CHURN_WEIGHTS = WEIGHTS


def _parts(rows: int = 1500) -> Split:
    return split(make_churn(rows, seed=7), data=DATA, config=SplitConfig(), task="binary", seed=0)


def _config(*families: str, trials: int, **extra: object) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_families": list(families),
            "budget": {"trials": trials, "timeout_seconds": 600},
            "validation": "holdout",
            "n_workers": 1,
            **extra,
        }
    )


def _train(parts: Split, config: TrainingConfig, **kwargs: Any) -> Any:
    return train(
        parts, target="churned", features=FEATURES, task="binary", metric="roc_auc",
        config=config, seed=0, **kwargs,
    )  # fmt: skip


def _as_record(entry: dict[str, Any], families: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    """A portfolio entry as ``TrialRecord`` shows it: the family, and the parameters without
    their family prefix."""
    family = entry.get("family", families[0])
    params = {k.split(".", 1)[-1]: v for k, v in entry.items() if k != "family"}
    return family, params


def _inside(distribution: BaseDistribution, value: Any) -> bool:
    """Whether ``value`` lies inside ``distribution``: its bounds, its step, its type."""
    if isinstance(distribution, CategoricalDistribution):
        return value in distribution.choices
    assert isinstance(distribution, IntDistribution | FloatDistribution)
    if isinstance(distribution, IntDistribution) and not isinstance(value, int):
        return False
    if not distribution.low <= value <= distribution.high:
        return False
    step = distribution.step
    return step is None or (value - distribution.low) % step == 0


@pytest.mark.parametrize("families", [ALL, ("lightgbm",), ("lightgbm", "linear"), ("xgboost",)])
@pytest.mark.parametrize("weights", [("none",), WEIGHTS])
def test_every_entry_runs_as_given_inside_the_search_space(
    families: tuple[str, ...], weights: tuple[str, ...]
) -> None:
    """Enqueued and suggested by the search's own calls, every entry comes back exactly, each
    value inside its distribution (Optuna only warns about a fixed value out of range)."""
    entries = portfolio(families, weights)
    assert entries
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for entry in entries:
        study.enqueue_trial(entry, skip_if_exists=True)
    for entry in entries:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an out-of-range fixed value warns
            trial = study.ask()
            name, _ = _suggest(trial, families, weights)
        assert trial.params == entry
        assert set(trial.distributions) == set(entry)
        outside = {k: v for k, v in entry.items() if not _inside(trial.distributions[k], v)}
        assert outside == {}
        assert name == entry.get("family", families[0])
        # the recorded parameters replay through FixedTrial, as the winner's do
        assert _suggest(optuna.trial.FixedTrial(trial.params), families, weights)[0] == name
        study.tell(trial, 0.5)


def test_cheapest_first_and_only_the_searched_families() -> None:
    assert [e["family"] for e in portfolio(ALL, ("none",))] == [
        "linear",
        "lightgbm",
        "xgboost",
        "lightgbm",
        "xgboost",
        "extra_trees",
        "random_forest",
        "lightgbm",
    ]
    only = portfolio(("lightgbm",), ("none",))
    assert len(only) == 3
    assert all("family" not in e and "class_weight" not in e for e in only)
    assert all(k.startswith("lightgbm.") for e in only for k in e)
    # LightGBM's library defaults come first
    assert only[0]["lightgbm.learning_rate"] == 0.1 and only[0]["lightgbm.num_leaves"] == 31
    monotone = portfolio(("lightgbm", "xgboost"), WEIGHTS)
    assert {e["family"] for e in monotone} == {"lightgbm", "xgboost"}
    assert all(e["class_weight"] == "none" for e in monotone)
    assert len(PORTFOLIO) == len(portfolio(ALL, ("none",)))


def test_warm_start_runs_the_portfolio_first_and_its_winner_replays() -> None:
    parts = _parts()
    families = ("lightgbm", "linear")
    entries = portfolio(families, CHURN_WEIGHTS)
    assert len(entries) == 4
    records: list[TrialRecord] = []
    config = _config(*families, trials=len(entries) + 1)
    model = _train(parts, config, on_trial=records.append)
    records.sort(key=lambda r: r.number)
    assert [(r.family, r.params) for r in records[: len(entries)]] == [
        _as_record(e, families) for e in entries
    ]
    assert model.n_trials == len(entries) + 1
    assert model.search_seconds > 0 and model.total_seconds >= model.search_seconds
    # a small budget runs only the first entries
    few: list[TrialRecord] = []
    winner = _train(parts, _config(*families, trials=2), on_trial=few.append)
    few.sort(key=lambda r: r.number)
    assert [(r.family, r.params) for r in few] == [_as_record(e, families) for e in entries[:2]]
    assert winner.search_params in entries[:2]
    # the portfolio's winner is recorded and replays like any other trial
    again = _train(parts, _config(*families, trials=2), replay=winner.search_params)
    rows = parts.test[list(winner.feature_columns)]
    assert again.family == winner.family and again.params == winner.params
    assert np.array_equal(winner.estimator.predict_proba(rows), again.estimator.predict_proba(rows))
    assert again.search_seconds == 0.0 and again.total_seconds > 0


def test_without_warm_start_the_search_samples_from_the_first_trial() -> None:
    families = ("lightgbm", "linear")
    records: list[TrialRecord] = []
    _train(_parts(), _config(*families, trials=3, warm_start=False), on_trial=records.append)
    shown = [_as_record(e, families) for e in portfolio(families, CHURN_WEIGHTS)]
    assert len(records) == 3
    assert not any((r.family, r.params) in shown for r in records)
    assert TrainingConfig().warm_start is True


def test_one_family_gets_only_its_entries() -> None:
    records: list[TrialRecord] = []
    _train(_parts(), _config("lightgbm", trials=3), on_trial=records.append)
    records.sort(key=lambda r: r.number)
    expected = [_as_record(e, ("lightgbm",)) for e in portfolio(("lightgbm",), CHURN_WEIGHTS)]
    assert [(r.family, r.params) for r in records] == expected


def test_refit_reserve_counts_every_fit_the_final_fit_makes() -> None:
    assert refit_reserve([], n_folds=5, refit_all=True) == 0.0
    # cross-validation: the slowest leader's 0.8 s per fold, 5 folds again plus one refit
    assert refit_reserve([2.0, 4.0, 1.0], n_folds=5, refit_all=True) == pytest.approx(
        REFIT_MARGIN * 0.8 * 6
    )
    # holdout without refit: the one fit again
    assert refit_reserve([3.0], n_folds=1, refit_all=False) == pytest.approx(REFIT_MARGIN * 3.0)
    # holdout with training.refit: the fit, and one more on train + validation rows
    assert refit_reserve([3.0], n_folds=1, refit_all=True) == pytest.approx(REFIT_MARGIN * 6.0)


def test_a_trial_starts_only_when_it_and_the_final_fit_fit_before_the_deadline() -> None:
    kwargs: dict[str, Any] = {"n_folds": 1, "refit_all": False}
    # nothing complete yet: any trial before the deadline starts
    assert time_for_trial([], [], now=99.0, deadline=100.0, **kwargs)
    assert not time_for_trial([], [], now=101.0, deadline=100.0, **kwargs)
    # a 4 s trial and a 1.25 * 4 s reserve: needs 9 s
    assert time_for_trial([4.0], [4.0], now=91.0, deadline=100.0, **kwargs)
    assert not time_for_trial([4.0], [4.0], now=91.5, deadline=100.0, **kwargs)
    # the expected trial is the median of similar trials; the reserve follows the leaders
    assert time_for_trial([1.0], [1.0, 2.0, 30.0], now=96.75, deadline=100.0, **kwargs)
    assert not time_for_trial([1.0], [1.0, 2.0, 30.0], now=96.8, deadline=100.0, **kwargs)
    # under cross-validation the reserve is per fold times the fits to come
    cv: dict[str, Any] = {"n_folds": 5, "refit_all": True}
    assert time_for_trial([10.0], [], now=85.0, deadline=100.0, **cv)
    assert not time_for_trial([10.0], [], now=85.1, deadline=100.0, **cv)


def test_a_worker_past_its_deadline_starts_no_trial() -> None:
    """An objective whose deadline is long past prunes its trial unrecorded (``over_time``)
    and stops its worker; no clock is read against a duration here."""
    parts = _parts()
    config = _config("linear", trials=3)
    prepared = _Prepared(
        parts, FEATURES, "churned", config=config, task="binary", seed=0, group_column=None
    )
    objective = _Objective(
        prepared, ("linear",), ("none",), "binary", "roc_auc", 0, 3, threads=1, deadline=0.0
    )
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=3)
    assert len(study.trials) == 1  # the worker stopped after the first
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert trial.user_attrs["over_time"] is True and "duration_seconds" not in trial.user_attrs
