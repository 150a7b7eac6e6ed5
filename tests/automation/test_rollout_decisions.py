"""The rollout's decision at one look, on constructed observations whose verdict is known
(exact 0/1 accuracy arrays); the plan of steps; and the evidence helpers (per-row metric,
prediction shift, the online metric, the split of log rows into the two arms)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from headway.automation.evidence import (
    Arm,
    ErrorCounts,
    Observation,
    js_distance,
    online_metric,
    per_row_metric,
    split_arms,
)
from headway.automation.rollout import RolloutDecision, decide_rollout, plan_steps
from headway.automation.sequential import Moments
from headway.config.automation import RolloutConfig

NOW = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)

STEPS_CONFIG: dict[str, Any] = {
    "steps": [
        {"mode": "shadow", "min_rows": 200},
        {"mode": "canary", "weight": 0.25, "min_rows": 100},
    ]
}


def _accuracy(rate: float, n: int) -> np.ndarray:
    """``n`` 0/1 values of which exactly ``round(rate * n)`` are 1."""
    correct = round(rate * n)
    return np.concatenate([np.ones(correct), np.zeros(n - correct)])


def _arm(
    version: str,
    rate: float,
    labelled: int,
    *,
    rows: int | None = None,
    p99: float | None = 10.0,
) -> Arm:
    return Arm(
        version=version,
        rows=labelled if rows is None else rows,
        metric=Moments.of(_accuracy(rate, labelled)),
        p99_latency_ms=p99,
        predictions=np.asarray([0.5] * 3, dtype=object),
    )


def _observation(
    champion: Arm,
    candidate: Arm,
    *,
    in_step: int = 0,
    shift: float | None = 0.0,
    errors: ErrorCounts | None = None,
) -> Observation:
    return Observation(
        since=NOW - timedelta(hours=1),
        until=NOW,
        metric="accuracy",
        champion=champion,
        candidate=candidate,
        candidate_rows_in_step=in_step,
        prediction_shift=shift,
        errors=errors,
    )


def _decide(
    observation: Observation,
    config: RolloutConfig,
    *,
    step: int = 0,
    strategy: str = "progressive",
    age: timedelta = timedelta(hours=1),
    previous_p_value: float = 1.0,
    error_baseline: dict[str, float] | None = None,
) -> RolloutDecision:
    return decide_rollout(
        strategy=strategy,
        step=step,
        steps=plan_steps(config),
        started_at=NOW - age,
        previous_p_value=previous_p_value,
        error_baseline=error_baseline,
        observation=observation,
        config=config,
        now=NOW,
    )


def _config(**extra: Any) -> RolloutConfig:
    return RolloutConfig.model_validate({**STEPS_CONFIG, **extra})


def _equal(labelled: int = 2000, **kwargs: Any) -> Observation:
    """Both versions at 0.80 accuracy: the test stays undecided."""
    return _observation(_arm("1", 0.8, labelled), _arm("2", 0.8, labelled), **kwargs)


# -- plan_steps --------------------------------------------------------------------------


def test_plan_steps_of_a_progressive_rollout() -> None:
    assert plan_steps(_config()) == [
        {"mode": "shadow", "weight": 0.0, "entity_column": None, "min_rows": 200},
        {"mode": "canary", "weight": 0.25, "entity_column": None, "min_rows": 100},
    ]


def test_plan_steps_of_the_default_rollout() -> None:
    plan = plan_steps(RolloutConfig())
    assert [(s["mode"], s["weight"], s["min_rows"]) for s in plan] == [
        ("shadow", 0.0, 200),
        ("canary", 0.05, 100),
        ("canary", 0.25, 200),
        ("canary", 0.5, 200),
    ]


def test_plan_steps_of_an_ab_rollout() -> None:
    config = RolloutConfig.model_validate(
        {"strategy": "ab", "ab_entity_column": "customer_id", "ab_weight": 0.3}
    )
    assert plan_steps(config) == [
        {"mode": "ab", "weight": 0.3, "entity_column": "customer_id", "min_rows": 0}
    ]


# -- progressive: advance and hold -------------------------------------------------------


def test_advance_when_the_step_has_its_rows_and_no_verdict() -> None:
    decision = _decide(_equal(in_step=250), _config(), step=0)
    assert decision.action == "advance"
    assert decision.kind == "advance"
    assert "250 rows" in decision.reason
    assert "next: canary 25%" in decision.reason
    assert decision.evidence["verdict"] == "undecided"
    assert decision.evidence["step"] == 0
    assert "ab" not in decision.evidence


def test_hold_while_the_step_lacks_rows() -> None:
    decision = _decide(_equal(in_step=50), _config(), step=0)
    assert decision.action == "hold"
    assert decision.kind == "rows"
    assert "50 of 200 rows" in decision.reason


def test_hold_for_evidence_at_the_last_step() -> None:
    decision = _decide(_equal(in_step=5000), _config(), step=1)
    assert decision.action == "hold"
    assert decision.kind == "evidence"
    assert decision.reason.startswith("waiting for evidence")


def test_hold_before_the_test_starts_names_the_labelled_rows() -> None:
    config = _config(min_labels=100)
    obs = _observation(_arm("1", 0.8, 40), _arm("2", 0.8, 30), in_step=5000)
    decision = _decide(obs, config, step=1)
    assert (decision.action, decision.kind) == ("hold", "evidence")
    assert "30 candidate and 40 champion labelled rows so far, too few to test" in decision.reason
    assert decision.evidence["test"]["started"] is False


def test_better_at_a_middle_step_advances_rather_than_promotes() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000), in_step=300)
    decision = _decide(obs, _config(), step=0)
    assert decision.evidence["verdict"] == "better"
    assert decision.action == "advance"


# -- progressive: promote and roll back --------------------------------------------------


def test_promote_at_the_last_step_when_better() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000), in_step=150)
    decision = _decide(obs, _config(), step=1)
    assert decision.action == "promote"
    assert decision.kind == "better"
    assert decision.evidence["verdict"] == "better"
    test = decision.evidence["test"]
    assert test["difference"] == pytest.approx(0.2)
    assert test["ci_low"] > 0
    assert decision.p_value < 0.05
    assert decision.p_value == test["p_value"]


def test_better_at_the_last_step_without_its_rows_holds_for_rows() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000), in_step=20)
    decision = _decide(obs, _config(), step=1)
    assert (decision.action, decision.kind) == ("hold", "rows")
    assert "20 of 100 rows" in decision.reason


def test_rollback_when_worse_even_at_the_first_step() -> None:
    obs = _observation(_arm("1", 0.9, 2000), _arm("2", 0.6, 2000), in_step=0)
    decision = _decide(obs, _config(), step=0)
    assert decision.action == "rollback"
    assert decision.kind == "worse"
    assert decision.reason.startswith("online accuracy is worse")
    assert decision.evidence["verdict"] == "worse"
    assert decision.evidence["test"]["ci_high"] < 0


def test_rollback_when_worse_for_an_error_metric() -> None:
    champion = Arm("1", 2000, Moments.of(np.tile([0.0, 1.0], 1000)), 10.0, np.asarray([]))
    candidate = Arm("2", 2000, Moments.of(np.tile([1.0, 2.0], 1000)), 10.0, np.asarray([]))
    obs = Observation(
        since=NOW - timedelta(hours=1),
        until=NOW,
        metric="absolute_error",
        champion=champion,
        candidate=candidate,
        candidate_rows_in_step=0,
        prediction_shift=0.0,
    )
    decision = _decide(obs, _config(metric="absolute_error"))
    assert (decision.action, decision.kind) == ("rollback", "worse")


# -- guardrails --------------------------------------------------------------------------


def test_latency_guardrail_rolls_back() -> None:
    obs = _observation(
        _arm("1", 0.8, 2000, p99=100.0), _arm("2", 0.8, 2000, p99=400.0), in_step=5000
    )
    decision = _decide(obs, _config())
    assert (decision.action, decision.kind) == ("rollback", "guardrail")
    assert decision.evidence["guardrails"]["latency_ratio"] == pytest.approx(4.0)
    assert "4.0x" in decision.reason
    assert "max_latency_ratio 3" in decision.reason


def test_a_slower_candidate_under_the_latency_floor_is_not_rolled_back() -> None:
    # 4x slower, but 40 ms at p99 is under guardrails.latency_floor_ms (50 ms): noise
    obs = _observation(_arm("1", 0.8, 2000, p99=10.0), _arm("2", 0.8, 2000, p99=40.0), in_step=50)
    decision = _decide(obs, _config())
    assert decision.evidence["guardrails"]["latency_ratio"] == pytest.approx(4.0)
    assert (decision.action, decision.kind) == ("hold", "rows")


def test_latency_at_the_limit_does_not_roll_back() -> None:
    obs = _observation(_arm("1", 0.8, 2000, p99=10.0), _arm("2", 0.8, 2000, p99=30.0), in_step=50)
    decision = _decide(obs, _config())
    assert decision.evidence["guardrails"]["latency_ratio"] == pytest.approx(3.0)
    assert (decision.action, decision.kind) == ("hold", "rows")


def test_prediction_shift_guardrail_rolls_back() -> None:
    decision = _decide(_equal(in_step=5000, shift=0.65), _config())
    assert (decision.action, decision.kind) == ("rollback", "guardrail")
    assert "0.650" in decision.reason
    assert decision.evidence["guardrails"]["prediction_shift"] == 0.65


def test_prediction_shift_below_the_limit_does_not_roll_back() -> None:
    decision = _decide(_equal(in_step=5000, shift=0.15), _config(), step=1)
    assert (decision.action, decision.kind) == ("hold", "evidence")


def test_error_rate_guardrail_counts_from_the_baseline() -> None:
    errors = ErrorCounts(requests=1500.0, errors=30.0, servers=2)
    decision = _decide(
        _equal(in_step=5000, errors=errors),
        _config(),
        error_baseline={"requests": 1000.0, "errors": 20.0},
    )
    # (30 - 20) / (1500 - 1000) = 2% > 1%
    assert (decision.action, decision.kind) == ("rollback", "guardrail")
    assert decision.evidence["guardrails"]["error_rate"] == pytest.approx(0.02)
    assert "2.00%" in decision.reason


def test_error_rate_below_the_limit_after_the_baseline_does_not_roll_back() -> None:
    errors = ErrorCounts(requests=1500.0, errors=30.0, servers=2)
    decision = _decide(
        _equal(in_step=50, errors=errors),
        _config(),
        error_baseline={"requests": 1000.0, "errors": 28.0},
    )
    # (30 - 28) / 500 = 0.4%
    assert decision.evidence["guardrails"]["error_rate"] == pytest.approx(0.004)
    assert (decision.action, decision.kind) == ("hold", "rows")


def test_error_rate_without_a_baseline_counts_everything() -> None:
    errors = ErrorCounts(requests=200.0, errors=4.0, servers=1)
    decision = _decide(_equal(in_step=5000, errors=errors), _config())
    assert decision.evidence["guardrails"]["error_rate"] == pytest.approx(0.02)
    assert decision.kind == "guardrail"


def test_guardrails_wait_for_min_rows() -> None:
    config = _config(guardrails={"min_rows": 500})
    errors = ErrorCounts(requests=100.0, errors=50.0, servers=1)
    obs = _observation(
        _arm("1", 0.8, 300, p99=10.0),
        _arm("2", 0.8, 300, p99=100.0),
        in_step=50,
        shift=0.9,
        errors=errors,
    )
    decision = _decide(obs, config)
    measured = decision.evidence["guardrails"]
    assert measured["latency_ratio"] == pytest.approx(10.0)
    assert measured["error_rate"] == pytest.approx(0.5)
    assert measured["prediction_shift"] == 0.9
    assert (decision.action, decision.kind) == ("hold", "rows")


def test_guardrails_wait_for_min_rows_of_the_champion_too() -> None:
    config = _config(guardrails={"min_rows": 500})
    obs = _observation(
        _arm("1", 0.8, 300, rows=300, p99=10.0),
        _arm("2", 0.8, 300, rows=5000, p99=100.0),
        in_step=50,
    )
    assert _decide(obs, config).kind == "rows"


def test_a_guardrail_breach_wins_over_a_better_verdict() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000), in_step=500, shift=0.8)
    decision = _decide(obs, _config(), step=1)
    assert decision.evidence["verdict"] == "better"
    assert (decision.action, decision.kind) == ("rollback", "guardrail")


# -- the budget --------------------------------------------------------------------------


def test_expire_after_max_duration() -> None:
    decision = _decide(_equal(in_step=5000), _config(max_duration="7d"), age=timedelta(days=8))
    assert (decision.action, decision.kind) == ("expire", "inconclusive")
    assert "older than rollout.max_duration 7d" in decision.reason
    assert decision.reason.endswith("the champion stays")


def test_expire_after_max_labels() -> None:
    config = _config(max_labels=500)
    decision = _decide(_equal(labelled=500, in_step=5000), config, step=0)
    assert (decision.action, decision.kind) == ("expire", "inconclusive")
    assert "500 labelled rows (rollout.max_labels)" in decision.reason


def test_below_max_labels_does_not_expire() -> None:
    config = _config(max_labels=501)
    decision = _decide(_equal(labelled=500, in_step=5000), config, step=0)
    assert decision.action == "advance"


def test_promote_when_inconclusive_under_on_inconclusive_promote() -> None:
    config = _config(on_inconclusive="promote")
    decision = _decide(_equal(in_step=5000), config, age=timedelta(days=30))
    assert (decision.action, decision.kind) == ("promote", "inconclusive")
    assert "on_inconclusive: promote" in decision.reason


def test_promote_at_max_labels_under_on_inconclusive_promote() -> None:
    config = _config(on_inconclusive="promote", max_labels=500)
    decision = _decide(_equal(labelled=600, in_step=10), config)
    assert (decision.action, decision.kind) == ("promote", "inconclusive")


def test_worse_is_rolled_back_even_after_max_duration() -> None:
    obs = _observation(_arm("1", 0.9, 2000), _arm("2", 0.6, 2000))
    decision = _decide(obs, _config(on_inconclusive="promote"), age=timedelta(days=30))
    assert (decision.action, decision.kind) == ("rollback", "worse")


# -- ab ----------------------------------------------------------------------------------


def _ab(**extra: Any) -> RolloutConfig:
    return RolloutConfig.model_validate(
        {"strategy": "ab", "ab_entity_column": "customer_id", "ab_duration": "7d", **extra}
    )


def test_ab_holds_before_its_duration() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000))
    decision = _decide(obs, _ab(), strategy="ab", age=timedelta(days=3))
    assert (decision.action, decision.kind) == ("hold", "ab_running")
    assert "ab runs for 7d" in decision.reason
    report = decision.evidence["ab"]
    assert report["decision"] == "better"
    assert report["n_control"] == 2000 and report["n_treatment"] == 2000
    assert report["difference"] == pytest.approx(0.2)
    assert report["relative_lift"] == pytest.approx(0.2 / 0.7)
    assert report["fixed_ci_low"] < 0.2 < report["fixed_ci_high"]


def test_ab_promotes_when_better_at_its_end() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000))
    decision = _decide(obs, _ab(), strategy="ab", age=timedelta(days=7))
    assert (decision.action, decision.kind) == ("promote", "better")
    assert decision.reason.startswith("ab ended, candidate better")
    assert decision.evidence["ab"]["decision"] == "better"


def test_ab_expires_undecided_at_its_end() -> None:
    decision = _decide(_equal(), _ab(), strategy="ab", age=timedelta(days=8))
    assert (decision.action, decision.kind) == ("expire", "inconclusive")
    assert decision.reason.startswith("ab ended undecided")
    assert decision.evidence["ab"]["decision"] == "undecided"
    assert decision.evidence["ab"]["relative_lift"] == pytest.approx(0.0)


def test_ab_promotes_undecided_under_on_inconclusive_promote() -> None:
    decision = _decide(
        _equal(), _ab(on_inconclusive="promote"), strategy="ab", age=timedelta(days=8)
    )
    assert (decision.action, decision.kind) == ("promote", "inconclusive")


def test_ab_rolls_back_when_worse_before_its_end() -> None:
    obs = _observation(_arm("1", 0.9, 2000), _arm("2", 0.6, 2000))
    decision = _decide(obs, _ab(), strategy="ab", age=timedelta(hours=1))
    assert (decision.action, decision.kind) == ("rollback", "worse")
    assert decision.evidence["ab"]["decision"] == "worse"


# -- the p-value -------------------------------------------------------------------------


@pytest.mark.parametrize("previous", [1.0, 0.3, 0.01, 0.0])
def test_p_value_never_rises_above_the_previous_one(previous: float) -> None:
    for obs in (
        _equal(),
        _observation(_arm("1", 0.8, 10), _arm("2", 0.8, 10)),
        _observation(_arm("1", 0.78, 2000), _arm("2", 0.8, 2000)),
    ):
        decision = _decide(obs, _config(), previous_p_value=previous)
        assert decision.p_value <= previous


def test_p_value_is_carried_over_before_the_test_starts() -> None:
    obs = _observation(_arm("1", 0.8, 10), _arm("2", 0.9, 10))
    assert _decide(obs, _config(), previous_p_value=0.2).p_value == 0.2


def test_p_value_of_strong_evidence_is_below_the_previous_one() -> None:
    obs = _observation(_arm("1", 0.7, 2000), _arm("2", 0.9, 2000))
    decision = _decide(obs, _config(), previous_p_value=0.5)
    assert decision.p_value < 1e-6


# -- per_row_metric ----------------------------------------------------------------------


def test_accuracy_matches_labels_across_types() -> None:
    predictions = pd.Series([1, "1", 1.0, "yes", "no", 0, True])
    labels = pd.Series(["1", 1, 1, "yes", "yes", "1", "True"])
    values = per_row_metric("accuracy", predictions, labels)
    assert values.tolist() == [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1.0]
    assert values.dtype == float


def test_absolute_and_squared_error() -> None:
    predictions = pd.Series([1.0, 2.0, 3.0, 4.5])
    labels = pd.Series([2, 2, 5, "4"])
    assert per_row_metric("absolute_error", predictions, labels).tolist() == [1.0, 0.0, 2.0, 0.5]
    assert per_row_metric("squared_error", predictions, labels).tolist() == [1.0, 0.0, 4.0, 0.25]


def test_error_metric_refuses_labels_that_are_not_numbers() -> None:
    with pytest.raises(ValueError, match="absolute_error needs numeric predictions and labels"):
        per_row_metric("absolute_error", pd.Series([1.0]), pd.Series(["high"]))


def test_unknown_metric_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown online metric 'f1'"):
        per_row_metric("f1", pd.Series([1]), pd.Series([1]))


def test_accuracy_refuses_series_of_different_lengths() -> None:
    with pytest.raises(ValueError):
        per_row_metric("accuracy", pd.Series([1, 0]), pd.Series([1]))


# -- js_distance -------------------------------------------------------------------------


def test_js_distance_of_identical_samples_is_zero() -> None:
    sample = np.linspace(0.0, 1.0, 200)
    assert js_distance(sample, sample.copy()) == pytest.approx(0.0, abs=1e-12)
    labels = np.asarray(["a", "b", "b", "c"], dtype=object)
    assert js_distance(labels, labels.copy()) == pytest.approx(0.0, abs=1e-12)


def test_js_distance_of_a_constant_sample_is_zero() -> None:
    assert js_distance(np.full(10, 0.3), np.full(20, 0.3)) == 0.0


def test_js_distance_of_disjoint_numbers_is_one() -> None:
    a = np.linspace(0.0, 1.0, 100)
    b = np.linspace(2.0, 3.0, 100)
    assert js_distance(a, b) == pytest.approx(1.0)


def test_js_distance_of_disjoint_labels_is_one() -> None:
    a = np.asarray(["yes"] * 30, dtype=object)
    b = np.asarray(["no"] * 30, dtype=object)
    assert js_distance(a, b) == pytest.approx(1.0)


def test_js_distance_of_disjoint_classes_of_equal_counts_is_one() -> None:
    assert js_distance(np.zeros(50), np.ones(50)) == pytest.approx(1.0)


def test_js_distance_of_disjoint_classes_of_unequal_counts_is_near_one() -> None:
    # the champion answered 1000 rows with class 0, a 5% canary 50 rows with class 1
    distance = js_distance(np.zeros(1000), np.ones(50))
    assert distance is not None
    assert distance > 0.9


def test_js_distance_of_partly_overlapping_samples_is_between() -> None:
    a = np.asarray(["x"] * 50 + ["y"] * 50, dtype=object)
    b = np.asarray(["x"] * 100, dtype=object)
    distance = js_distance(a, b)
    assert distance is not None
    assert 0.1 < distance < 0.9


def test_js_distance_of_an_empty_sample_is_none() -> None:
    assert js_distance(np.asarray([]), np.asarray([1.0, 2.0])) is None
    assert js_distance(np.asarray([1.0]), np.asarray([])) is None


# -- online_metric -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("binary", "brier"),
        ("multiclass", "accuracy"),
        ("regression", "absolute_error"),
        ("forecast", "absolute_error"),
    ],
)
def test_online_metric_auto_follows_the_task(task: str, expected: str) -> None:
    assert online_metric("auto", task) == expected


def test_online_metric_keeps_a_fitting_choice() -> None:
    assert online_metric("squared_error", "regression") == "squared_error"
    assert online_metric("accuracy", "binary") == "accuracy"


def test_online_metric_refuses_accuracy_for_regression() -> None:
    with pytest.raises(ValueError, match="accuracy needs a classification task, not 'regression'"):
        online_metric("accuracy", "regression")


def test_online_metric_refuses_an_error_metric_for_classification() -> None:
    with pytest.raises(ValueError, match="absolute_error needs a numeric target"):
        online_metric("absolute_error", "binary")


# -- split_arms --------------------------------------------------------------------------


def _log_frame() -> pd.DataFrame:
    at = pd.Timestamp("2024-06-10T10:00:00Z")
    rows = [
        # id, model, version, route, prediction, latency, label
        ("a", "churn", "1", "champion", 1, 5.0, 1),
        ("a-shadow", "churn", "2", "shadow", 0, 7.0, None),
        ("b", "churn", "1", "champion", 0, 6.0, 0),
        ("b-shadow", "churn", "2", "shadow", 0, 8.0, None),
        ("c", "churn", "1", "champion", 1, 5.5, None),
        ("c-shadow", "churn", "2", "shadow", 1, 9.0, None),
        ("d", "churn", "2", "canary", 1, 6.5, 1),
        ("e", "churn", "2", "batch", 1, 1.0, 0),
        ("f", "churn", "1", "shadow", 1, 1.0, 1),
        ("g", "other", "1", "champion", 1, 1.0, 1),
        ("h", "churn", "3", "champion", 1, 1.0, 1),
    ]
    return pd.DataFrame(
        {
            "prediction_id": [r[0] for r in rows],
            "model_name": [r[1] for r in rows],
            "model_version": [r[2] for r in rows],
            "route": [r[3] for r in rows],
            "outputs": [{"prediction": r[4]} for r in rows],
            "latency_ms": [r[5] for r in rows],
            "timestamp": [at + pd.Timedelta(minutes=i) for i in range(len(rows))],
            "label": pd.Series([r[6] for r in rows], dtype=object),
        }
    )


def test_split_arms_keeps_each_versions_own_rows() -> None:
    champion, candidate = split_arms(_log_frame(), model="churn", champion="1", candidate="2")
    assert champion["prediction_id"].tolist() == ["a", "b", "c"]
    assert candidate["prediction_id"].tolist() == ["a-shadow", "b-shadow", "c-shadow", "d"]
    assert champion.index.tolist() == [0, 1, 2]
    assert candidate.index.tolist() == [0, 1, 2, 3]


def test_split_arms_gives_a_shadow_row_the_label_of_its_champion_row() -> None:
    _, candidate = split_arms(_log_frame(), model="churn", champion="1", candidate="2")
    labels = dict(zip(candidate["prediction_id"], candidate["label"], strict=True))
    assert labels["a-shadow"] == 1
    assert labels["b-shadow"] == 0
    assert pd.isna(labels["c-shadow"])
    assert labels["d"] == 1


def test_split_arms_without_shadow_rows_leaves_labels_alone() -> None:
    frame = _log_frame()
    frame = frame[frame["route"] != "shadow"]
    champion, candidate = split_arms(frame, model="churn", champion="1", candidate="2")
    assert champion["prediction_id"].tolist() == ["a", "b", "c"]
    assert candidate["prediction_id"].tolist() == ["d"]
    assert candidate["label"].tolist() == [1]


def test_split_arms_labels_score_the_shadowed_candidate() -> None:
    _, candidate = split_arms(_log_frame(), model="churn", champion="1", candidate="2")
    labelled = candidate[candidate["label"].notna()]
    values = per_row_metric(
        "accuracy",
        pd.Series([o["prediction"] for o in labelled["outputs"]]),
        labelled["label"].reset_index(drop=True),
    )
    # a-shadow predicted 0 for label 1, b-shadow 0 for 0, d 1 for 1
    assert values.tolist() == [0.0, 1.0, 1.0]


def test_brier_scores_the_probability_of_the_positive_class() -> None:
    values = per_row_metric(
        "brier",
        pd.Series([1, 0, 1]),
        pd.Series([1, 1, 0]),
        pd.Series([0.9, 0.2, 0.6]),
        positive=1,
    )
    assert values.tolist() == pytest.approx([0.01, 0.64, 0.36])


def test_brier_needs_probabilities() -> None:
    with pytest.raises(ValueError, match="brier needs the logged probabilities"):
        per_row_metric("brier", pd.Series([1]), pd.Series([1]))


def test_online_metric_refuses_brier_for_multiclass() -> None:
    with pytest.raises(ValueError, match="brier needs a binary task, not 'multiclass'"):
        online_metric("brier", "multiclass")
