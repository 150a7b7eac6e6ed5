"""The fairness gate: minimum group size, missing values, numeric columns in quantile bins,
and a bootstrap interval on each gap that the gate reads the way the champion comparison
reads its change."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from headway.artifacts import EvaluationReport
from headway.config import (
    DataConfig,
    EvaluationConfig,
    GateConfig,
    SourceConfig,
    SplitConfig,
    TrainingConfig,
)
from headway.data import split
from headway.datasets import make_credit
from headway.evaluation import evaluate
from headway.evaluation.fairness import MISSING_GROUP, fairness_report
from headway.gates import bless
from headway.reports._card_results import fairness_section, limitations_section

PARITY = "demographic_parity_difference"
ODDS = "equalized_odds_difference"


def _binary(groups: dict[Any, tuple[int, float]], seed: int = 0) -> tuple[pd.DataFrame, Any, Any]:
    """Rows of each group (size, share predicted positive), half of them truly positive."""
    rng = np.random.default_rng(seed)
    values: list[Any] = []
    labels: list[np.ndarray] = []
    proba: list[np.ndarray] = []
    for group, (n, rate) in groups.items():
        values += [group] * n
        labels.append(rng.permutation(np.arange(n) % 2))
        chosen = np.zeros(n)
        chosen[: round(rate * n)] = 1
        proba.append(np.where(rng.permutation(chosen) == 1, 0.9, 0.1))
    frame = pd.DataFrame({"g": pd.Series(values, dtype=object)})
    return frame, np.concatenate(labels), np.concatenate(proba)


def _candidate(*records: dict[str, Any]) -> EvaluationReport:
    return EvaluationReport("roc_auc", True, {"roc_auc": 0.8}, {}, 1000, fairness=records)


def _checks(result: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in result.checks if c["name"].startswith("fairness:")}


PARITY_BOUND = GateConfig(max_demographic_parity_difference=0.1)


# -- minimum group size ------------------------------------------------------------------


def test_a_tiny_group_with_an_extreme_rate_does_not_decide_the_gate() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), "c": (5, 1.0)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1])
    # the five rows of c are reported, with their size and rate, but not gated
    assert report.by_group["c"]["n"] == 5 and report.by_group["c"]["selection_rate"] == 1.0
    assert report.gated_groups == ("a", "b") and report.excluded_groups == ("c",)
    assert report.min_group_size == 30
    assert report.demographic_parity_difference == pytest.approx(0.02)
    result = bless(_candidate(report.to_dict()), config=PARITY_BOUND)
    assert result.blessed
    detail = _checks(result)[f"fairness:g:{PARITY}"]["detail"]
    assert "not gated" in detail and "c (5)" in detail


def test_the_minimum_group_size_is_configurable() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), "c": (5, 1.0)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], min_group_size=5)
    assert report.gated_groups == ("a", "b", "c") and report.excluded_groups == ()
    assert report.demographic_parity_difference == pytest.approx(0.6)
    assert EvaluationConfig().min_group_size == 30
    with pytest.raises(ValidationError):
        EvaluationConfig(min_group_size=0)


def test_fewer_than_two_large_groups_is_not_enough_data_and_does_not_block() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (12, 1.0)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1])
    assert report.gated_groups == ("a",) and report.excluded_groups == ("b",)
    assert np.isnan(report.demographic_parity_difference)
    assert np.isnan(report.equalized_odds_difference or float("nan"))
    assert "1 group" in report.undefined[PARITY]
    config = GateConfig(max_demographic_parity_difference=0.1, max_equalized_odds_difference=0.1)
    result = bless(_candidate(report.to_dict()), config=config)
    assert result.blessed
    for check in _checks(result).values():
        assert check["passed"] and check["value"] is None
        assert "not enough data" in check["detail"] and "b (12)" in check["detail"]


# -- missing values ----------------------------------------------------------------------


def test_a_small_missing_group_is_reported_but_not_gated() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), None: (4, 1.0)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1])
    assert report.by_group[MISSING_GROUP]["n"] == 4
    assert report.excluded_groups == (MISSING_GROUP,) and report.missing_rows == 4
    assert report.demographic_parity_difference == pytest.approx(0.02)
    assert bless(_candidate(report.to_dict()), config=PARITY_BOUND).blessed


def test_a_large_missing_group_is_gated_like_any_other() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), None: (60, 0.9)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1])
    assert report.gated_groups == (MISSING_GROUP, "a", "b")
    assert report.demographic_parity_difference == pytest.approx(0.5)
    assert not bless(_candidate(report.to_dict()), config=PARITY_BOUND).blessed


def test_missing_rows_can_be_left_out_and_are_counted() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), None: (60, 0.9)})
    frame.loc[0, "g"] = float("nan")  # NaN and None are both missing
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], missing="exclude")
    assert MISSING_GROUP not in report.by_group and report.missing_rows == 61
    assert report.by_group["a"]["n"] == 299
    assert report.gated_groups == ("a", "b")
    assert bless(_candidate(report.to_dict()), config=PARITY_BOUND).blessed
    assert EvaluationConfig().sensitive_missing == "group"
    with pytest.raises(ValidationError):
        EvaluationConfig(sensitive_missing="drop")  # type: ignore[arg-type]


# -- numeric sensitive columns -----------------------------------------------------------


def test_a_numeric_column_is_binned_in_quantiles_not_one_group_per_value() -> None:
    rng = np.random.default_rng(3)
    age = rng.integers(18, 90, 800)
    frame = pd.DataFrame({"age": age})
    y = rng.integers(0, 2, 800)
    p = rng.uniform(size=800)
    report = fairness_report("binary", frame, y, p, column="age", classes=[0, 1])
    assert len(report.by_group) == 4  # quartiles
    labels = list(report.by_group)
    assert labels[0].startswith("[18, ") and labels[-1].endswith(", 89]")
    assert all(lab.startswith("[") and lab.endswith(")") for lab in labels[:-1])
    sizes = [report.by_group[lab]["n"] for lab in labels]
    assert sum(sizes) == 800 and min(sizes) > 150
    assert report.bin_edges is not None and len(report.bin_edges) == 5
    assert report.gated_groups == tuple(labels)
    # the bin count is a setting; a numeric column with few values keeps them as groups
    tenths = fairness_report("binary", frame, y, p, column="age", classes=[0, 1], bins=10)
    assert len(tenths.by_group) == 10
    flags = fairness_report(
        "binary", pd.DataFrame({"flag": rng.integers(0, 2, 800)}), y, p, column="flag",
        classes=[0, 1],
    )  # fmt: skip
    assert set(flags.by_group) == {"0", "1"} and flags.bin_edges is None
    assert EvaluationConfig().sensitive_bins == 4


def test_binned_numeric_column_with_missing_values() -> None:
    rng = np.random.default_rng(4)
    income = rng.normal(50_000, 10_000, 400)
    income[:40] = np.nan
    frame = pd.DataFrame({"income": income})
    y = rng.integers(0, 2, 400)
    report = fairness_report(
        "binary", frame, y, rng.uniform(size=400), column="income", classes=[0, 1]
    )
    assert next(iter(report.by_group)) == MISSING_GROUP and len(report.by_group) == 5
    assert report.by_group[MISSING_GROUP]["n"] == 40 and report.missing_rows == 40


# -- bootstrap interval and the gate's reading of it -------------------------------------


def test_each_gap_has_a_seeded_bootstrap_interval() -> None:
    frame, y, p = _binary({"a": (200, 0.30), "b": (200, 0.45)})
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], seed=7)
    for key in (PARITY, ODDS):
        interval = report.to_dict()[f"{key}_interval"]
        estimate = report.to_dict()[key]
        assert interval is not None and interval[0] < estimate < interval[1]
        assert 0.02 < interval[1] - interval[0] < 0.4
    again = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], seed=7)
    assert again == report
    other = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], seed=8)
    assert (
        other.demographic_parity_difference_interval
        != report.demographic_parity_difference_interval
    )
    off = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], n_boot=0)
    assert off.demographic_parity_difference_interval is None


def test_the_interval_matches_the_sampling_noise_of_the_gap() -> None:
    # The true gap is 0.1; the 95% interval of a gap on 400 rows per group covers it.
    frame, y, p = _binary({"a": (400, 0.30), "b": (400, 0.40)}, seed=2)
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1], n_boot=500, seed=1)
    low, high = report.demographic_parity_difference_interval or (0.0, 0.0)
    assert low < 0.1 < high and high - low == pytest.approx(0.13, abs=0.04)


def _record(estimate: float, low: float, high: float) -> dict[str, Any]:
    return {
        "column": "sex",
        PARITY: estimate,
        f"{PARITY}_interval": (low, high),
        ODDS: None,
        "gated_groups": ("f", "m"),
        "excluded_groups": (),
        "min_group_size": 30,
    }


@pytest.mark.parametrize(
    ("interval", "violation", "compliance", "verdict"),
    [
        ((0.15, 0.12, 0.18), False, False, "exceeds the bound beyond noise"),
        ((0.11, 0.06, 0.16), True, False, "within noise"),
        ((0.09, 0.04, 0.14), True, False, "within noise"),
        ((0.05, 0.03, 0.07), True, True, "within the bound beyond noise"),
    ],
)
def test_the_gate_reads_the_interval(
    interval: tuple[float, float, float], violation: bool, compliance: bool, verdict: str
) -> None:
    candidate = _candidate(_record(*interval))
    lenient = bless(candidate, config=PARITY_BOUND)
    strict = bless(
        candidate,
        config=GateConfig(max_demographic_parity_difference=0.1, fairness_evidence="compliance"),
    )
    assert lenient.blessed is violation and strict.blessed is compliance
    detail = _checks(lenient)[f"fairness:sex:{PARITY}"]["detail"]
    low, high = interval[1:]
    assert verdict in detail and f"{low:.4f} to {high:.4f}" in detail and "0.1" in detail
    assert GateConfig().fairness_evidence == "violation"


def test_a_gap_beyond_noise_fails_and_one_within_noise_passes_end_to_end() -> None:
    unfair, y, p = _binary({"a": (500, 0.30), "b": (500, 0.55)})
    report = fairness_report("binary", unfair, y, p, column="g", classes=[0, 1])
    assert (report.demographic_parity_difference_interval or (0, 0))[0] > 0.1
    assert not bless(_candidate(report.to_dict()), config=PARITY_BOUND).blessed
    # a gap of 0.12 on 40 rows a group: above the bound, but not beyond noise
    noisy, y, p = _binary({"a": (40, 0.30), "b": (40, 0.425)})
    small = fairness_report("binary", noisy, y, p, column="g", classes=[0, 1])
    assert small.demographic_parity_difference > 0.1
    assert (small.demographic_parity_difference_interval or (1, 1))[0] < 0.1
    assert bless(_candidate(small.to_dict()), config=PARITY_BOUND).blessed
    strict = GateConfig(max_demographic_parity_difference=0.1, fairness_evidence="compliance")
    assert not bless(_candidate(small.to_dict()), config=strict).blessed


def test_records_without_an_interval_are_gated_on_the_point_value() -> None:
    old = {"column": "sex", PARITY: 0.12, ODDS: 0.05}
    result = bless(_candidate(old), config=PARITY_BOUND)
    assert not result.blessed
    assert _checks(result)[f"fairness:sex:{PARITY}"]["detail"] == (
        f"fairness:sex:{PARITY}=0.1200 exceeds 0.1"
    )


def test_multiclass_and_regression_gaps_have_intervals_too() -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c"], 600)})
    labels = np.array(["x", "y", "z"])
    y = rng.choice(labels, 600)
    proba = rng.dirichlet(np.ones(3), 600)
    multi = fairness_report("multiclass", frame, y, proba, column="g", classes=labels)
    low, high = multi.demographic_parity_difference_interval or (1, 0)
    assert low <= multi.demographic_parity_difference <= high
    assert (
        multi.equalized_odds_difference is None and multi.equalized_odds_difference_interval is None
    )
    assert ODDS not in multi.undefined
    values = rng.normal(size=600)
    reg = fairness_report("regression", frame, values, values + 1, column="g")
    low, high = reg.demographic_parity_difference_interval or (1, 0)
    assert low <= reg.demographic_parity_difference <= high


# -- the evaluation stage and the model card ---------------------------------------------


def test_evaluate_applies_the_settings_on_the_credit_example() -> None:
    from headway.training import train

    frame = make_credit(2500, seed=3)
    data = DataConfig(
        source=SourceConfig(path="x.csv"),
        target="defaulted",
        id_column="application_id",
        timestamp_column="applied_at",
    )
    parts = split(frame, data=data, config=SplitConfig(), task="binary", seed=0)
    features = ["income", "debt_to_income", "late_payments_2y", "interest_rate"]
    training = TrainingConfig.model_validate(
        {"model_families": ["linear"], "budget": {"trials": 1, "timeout_seconds": 60},
         "validation": "holdout", "class_weight": "none", "n_workers": 1}
    )  # fmt: skip
    model = train(
        parts, target="defaulted", features=features, task="binary", metric="roc_auc",
        config=training, seed=0, replay={"linear.C": 1.0},
    )  # fmt: skip
    config = EvaluationConfig(
        sensitive_columns=["age", "sex"], explain=False, behaviour=False, bootstrap=50,
        min_group_size=40,
    )  # fmt: skip
    report, _ = evaluate(
        model, parts.test, target="defaulted", task="binary", metric="roc_auc", seed=11,
        config=config,
    )  # fmt: skip
    age, sex = report.fairness
    assert age["column"] == "age" and len(age["by_group"]) == 4  # quartiles of age
    assert age["min_group_size"] == 40 and len(age["bin_edges"]) == 5
    assert sex["gated_groups"] == ("female", "male")
    low, high = sex[f"{PARITY}_interval"]
    assert low <= sex[PARITY] <= high
    again, _ = evaluate(
        model, parts.test, target="defaulted", task="binary", metric="roc_auc", seed=11,
        config=config,
    )  # fmt: skip
    assert again.fairness == report.fairness


def test_the_card_shows_the_interval_and_the_groups_not_gated() -> None:
    frame, y, p = _binary({"a": (300, 0.40), "b": (300, 0.42), "c": (5, 1.0), None: (3, 0.0)})
    record = fairness_report("binary", frame, y, p, column="g", classes=[0, 1]).to_dict()
    blocks = fairness_section({"evaluation": {"fairness": [record]}})
    text = repr(blocks)
    low, high = record[f"{PARITY}_interval"]
    assert f"{low:.4f} to {high:.4f}" in text
    assert "c (5 rows)" in text and f"{MISSING_GROUP} (3 rows)" in text
    assert "not gated" in text and "30" in text
    # not enough data is said plainly, and is not a limitation of its own
    few, y, p = _binary({"a": (300, 0.40), "b": (12, 1.0)})
    thin = fairness_report("binary", few, y, p, column="g", classes=[0, 1]).to_dict()
    card = {"evaluation": {"fairness": [thin], "n_test": 5000}}
    assert "not enough data" in repr(fairness_section(card))
    assert "n/a" not in repr(limitations_section(card))


def test_the_gaps_are_fairlearns_on_the_gated_rows() -> None:
    from fairlearn.metrics import demographic_parity_difference, equalized_odds_difference

    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"g": rng.choice(["a", "b", "c", "d"], 900, p=[0.4, 0.3, 0.28, 0.02])})
    y = rng.integers(0, 2, 900)
    p = np.clip(rng.normal(0.45, 0.2, 900) + 0.1 * (frame["g"] == "b"), 0, 1)
    report = fairness_report("binary", frame, y, p, column="g", classes=[0, 1])
    assert report.excluded_groups == ("d",)
    gated = (frame["g"] != "d").to_numpy()
    pred = (p >= 0.5).astype(int)
    sensitive = frame["g"][gated]
    assert report.demographic_parity_difference == pytest.approx(
        demographic_parity_difference(y[gated], pred[gated], sensitive_features=sensitive)
    )
    assert report.equalized_odds_difference == pytest.approx(
        equalized_odds_difference(y[gated], pred[gated], sensitive_features=sensitive)
    )
