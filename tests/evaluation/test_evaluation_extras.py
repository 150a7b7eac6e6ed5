"""Slices, business value, calibration and shared-resample bootstrap intervals."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from headway.evaluation import calibration
from headway.evaluation.calibration import (
    _evaluator,
    _resamples,
    bootstrap_intervals,
    calibration_curve_data,
    expected_calibration_error,
    paired_bootstrap_delta,
)
from headway.evaluation.cost import business_value, expected_value_curve
from headway.evaluation.metrics import bootstrap_interval, score
from headway.evaluation.slices import evaluate_slices, slice_columns, slice_labels
from headway.exceptions import ConfigError
from headway.tasks import TASK_METRICS

CHURN_VALUES = {"true_positive": 180.0, "false_positive": -20.0, "false_negative": -200.0}
BINARY = np.array([0, 1])


def binary_data(n: int, seed: int, signal: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """Labels and (n, 2) scores whose positive-class probability tracks the label."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.5 + signal * (2 * y - 1) + rng.normal(0, 0.25, n), 0.001, 0.999)
    return y, np.c_[1 - p, p]


# --- slices -----------------------------------------------------------------------------


def feature_frame() -> pd.DataFrame:
    n = 100
    return pd.DataFrame(
        {
            "region": ["north", "south", "east", "west"] * 25,
            "plan": pd.Categorical(["basic", "pro"] * 50),
            "customer_id": [f"c{i}" for i in range(n)],
            "country": ["NL"] * n,
            "is_active": [True, False] * 50,
            "tenure": np.arange(n, dtype=float),
            "seats": [1, 2, 3, 4, 5] * 20,
        }
    )


def test_slice_columns_picks_low_cardinality_categoricals() -> None:
    frame = feature_frame()
    features = ["region", "plan", "customer_id", "country", "is_active", "tenure", "seats"]
    # customer_id has 100 values, country only one, tenure and seats are numeric
    assert slice_columns(frame, features, []) == ["region", "plan", "is_active"]
    assert slice_columns(frame, features, [], max_categories=3) == ["plan", "is_active"]
    assert slice_columns(frame, features, ["tenure", "region"]) == [
        "tenure",
        "region",
        "plan",
        "is_active",
    ]


def test_configured_numeric_is_binned_into_quartiles() -> None:
    frame = feature_frame()
    labels = pd.Series(slice_labels(frame["tenure"])).value_counts().sort_index()
    assert labels.to_dict() == {
        "[0.0, 24.75)": 25,
        "[24.75, 49.5)": 25,
        "[49.5, 74.25)": 25,
        "[74.25, 99.0]": 25,
    }
    # few distinct values: one slice per value, not bins
    assert sorted(set(slice_labels(frame["seats"]))) == ["1", "2", "3", "4", "5"]
    with_missing = pd.Series([1.0, None, 2.0])
    assert list(slice_labels(with_missing)) == ["1.0", "(missing)", "2.0"]


def test_unknown_configured_column_suggests_a_close_match() -> None:
    with pytest.raises(ConfigError, match=r"'regoin'.*Did you mean 'region'\?"):
        slice_columns(feature_frame(), ["region"], ["regoin"])


def slice_data() -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Regions north/south are scored well, east at random; 200 rows have no region and
    10 are in the tiny region 'isle'; segment 'vip' holds negatives only."""
    rng = np.random.default_rng(7)
    n = 3000
    y, scores = binary_data(n, seed=3)
    region = np.array(["north", "south", "east"], dtype=object)[np.arange(n) % 3]
    region[:200] = None
    region[200:210] = "isle"
    east = region == "east"
    random_p = rng.random(east.sum())
    scores[east] = np.c_[1 - random_p, random_p]
    segment = np.where(np.arange(n) % 10 == 0, "vip", "standard").astype(object)
    y[segment == "vip"] = 0
    frame = pd.DataFrame({"region": region, "segment": segment})
    return frame, y, scores


def test_evaluate_slices_flags_the_random_region_only() -> None:
    frame, y, scores = slice_data()
    results = evaluate_slices(
        "binary", frame, y, scores, columns=["region", "segment"], metric="roc_auc", classes=BINARY
    )
    by_value = {(r.column, r.value): r for r in results}
    overall = score("roc_auc", y, scores, classes=BINARY)

    east = by_value["region", "east"]
    assert east.flagged and east.n == 930
    auc = east.metrics["roc_auc"]
    assert 0.4 < auc < 0.6 < 0.8 < overall
    change = (auc - overall) / overall
    assert east.reason == f"roc_auc {auc:.2f} vs {overall:.2f} overall ({change:+.1%})"
    for value in ("north", "south", "(missing)"):
        good = by_value["region", value]
        assert not good.flagged and good.reason is None
        assert good.metrics["roc_auc"] > overall
        assert set(good.metrics) == set(TASK_METRICS["binary"])
    assert by_value["region", "(missing)"].n == 200

    isle = by_value["region", "isle"]
    assert (isle.n, isle.metrics, isle.flagged, isle.reason) == (10, {}, False, "too few rows")

    # worst first within a column, unscored slices last; columns in the order given
    region_order = [r.value for r in results if r.column == "region"]
    assert (region_order[0], region_order[-1]) == ("east", "isle")
    assert [r.column for r in results] == ["region"] * 5 + ["segment"] * 2


def test_slice_with_one_class_leaves_out_the_undefined_metrics() -> None:
    frame, y, scores = slice_data()
    results = evaluate_slices(
        "binary", frame, y, scores, columns=["segment"], metric="roc_auc", classes=BINARY
    )
    vip = next(r for r in results if r.value == "vip")
    assert vip.n == 300 and not vip.flagged
    assert "roc_auc" not in vip.metrics and "accuracy" in vip.metrics
    assert vip.reason == "roc_auc cannot be computed on this slice"


def test_lower_is_better_metric_flags_larger_errors() -> None:
    rng = np.random.default_rng(0)
    n = 400
    group = np.array(["a", "b"], dtype=object)[np.arange(n) % 2]
    y = rng.normal(100, 10, n)
    pred = y + rng.normal(0, 1, n) + np.where(group == "b", rng.normal(0, 10, n), 0)
    results = evaluate_slices(
        "regression", pd.DataFrame({"g": group}), y, pred, columns=["g"], metric="rmse"
    )
    assert [(r.value, r.flagged) for r in results] == [("b", True), ("a", False)]
    assert results[0].reason is not None and "overall (+" in results[0].reason


# --- business value ---------------------------------------------------------------------


def test_business_value_counts_and_totals() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    predicted = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    value = business_value(y, predicted, CHURN_VALUES)
    assert value.counts == {
        "true_positive": 2,
        "false_positive": 1,
        "true_negative": 4,
        "false_negative": 1,
    }
    assert value.total == 2 * 180 - 20 - 200 == 140
    assert value.per_1000 == 17500.0 and value.n == 8
    assert value.values == {**CHURN_VALUES, "true_negative": 0.0}


def test_business_value_rejects_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match=r"'true_pos'.*allowed keys: true_positive"):
        business_value(np.array([1]), np.array([1]), {"true_pos": 1.0})


def test_expected_value_curve() -> None:
    y = np.array([1, 1, 1, 0, 0, 0])
    proba = np.array([0.7, 0.8, 0.9, 0.1, 0.2, 0.3])
    thresholds, value = expected_value_curve(
        y, proba, {"true_positive": 1.0, "false_positive": -1.0}
    )
    assert thresholds.shape == value.shape == (101,)
    assert value.max() == 500.0  # all three positives caught, no false alarm
    best = thresholds[np.argmax(value)]
    assert 0.3 < best <= 0.7
    # the curve agrees with business_value at every threshold
    _, churn = expected_value_curve(y, np.c_[1 - proba, proba], CHURN_VALUES, [0.0, 0.5, 1.0])
    expected = [business_value(y, proba >= t, CHURN_VALUES).per_1000 for t in (0.0, 0.5, 1.0)]
    assert churn.tolist() == expected


# --- calibration ------------------------------------------------------------------------


def test_expected_calibration_error() -> None:
    proba = np.array([0.25] * 4 + [0.75] * 4)
    calibrated = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(calibrated, proba) == 0.0
    # first bin: observed 0.5 vs predicted 0.25, half of the rows
    off = np.array([1, 1, 0, 0, 1, 1, 1, 0])
    assert expected_calibration_error(off, proba) == 0.125
    assert calibration_curve_data(off, proba) == {
        "mean_predicted": [0.25, 0.75],
        "observed": [0.5, 0.75],
        "count": [4, 4],
    }
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        expected_calibration_error(off, proba + 0.5)


# --- bootstrap --------------------------------------------------------------------------


def task_cases() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, float | None]]:
    rng = np.random.default_rng(1)
    n = 200
    y_bin = rng.choice(["stay", "churn"], n)
    p = np.round(np.clip(0.5 + 0.3 * (y_bin == "stay") + rng.normal(0, 0.25, n), 0, 1), 1)
    y_multi = rng.integers(0, 3, n)
    raw = rng.random((n, 3)) + np.eye(3)[y_multi] * 0.8
    y_reg = rng.normal(10, 3, n)
    y_reg[:15] = 0.0
    s_reg = y_reg + rng.normal(0, 2, n)
    classes = np.array(["churn", "stay"])
    return [
        ("binary", y_bin, np.c_[1 - p, p], classes, None),
        ("binary", y_bin, np.c_[1 - p, p], classes, 0.3),
        ("multiclass", y_multi, raw / raw.sum(axis=1, keepdims=True), np.arange(3), None),
        ("regression", y_reg, s_reg, None, None),
        ("forecast", y_reg, s_reg, None, None),
    ]


@pytest.mark.parametrize("case", range(5))
def test_vectorised_metrics_equal_score_on_the_resampled_rows(case: int) -> None:
    task, y, scores, classes, threshold = task_cases()[case]
    for metric in TASK_METRICS[task]:
        evaluate = _evaluator(metric, y, scores, classes, threshold)
        assert evaluate.__name__ != "slow", metric  # vectorised, not the per-resample loop
        for idx, weights in _resamples(len(y), 20, seed=5):
            fast = evaluate(idx, weights)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                slow = [
                    score(metric, y[r], scores[r], classes=classes, threshold=threshold)
                    for r in idx
                ]
            np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-12, err_msg=metric)


def test_bootstrap_intervals_contain_the_estimate_and_shrink_with_rows() -> None:
    metrics = list(TASK_METRICS["binary"])
    widths = []
    for n in (400, 4000):
        y, scores = binary_data(n, seed=n)
        intervals = bootstrap_intervals("binary", y, scores, metrics, classes=BINARY)
        assert set(intervals) == set(metrics)
        for metric, (low, high) in intervals.items():
            assert low <= score(metric, y, scores, classes=BINARY) <= high, metric
        widths.append({m: high - low for m, (low, high) in intervals.items()})
    for metric in metrics:
        assert widths[1][metric] < widths[0][metric], metric


def test_bootstrap_intervals_match_the_single_metric_interval() -> None:
    y, scores = binary_data(500, seed=2)
    shared = bootstrap_intervals("binary", y, scores, ["roc_auc", "f1"], threshold=0.4, seed=3)
    for metric in ("roc_auc", "f1"):
        alone = bootstrap_interval(metric, y, scores, BINARY, 0.4, 3)
        assert shared[metric] == pytest.approx(alone, abs=1e-12)


def test_bootstrap_intervals_on_ten_thousand_rows_score_no_resample_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every binary metric is computed on all resamples at once (what keeps ten thousand
    rows fast): the one-resample-at-a-time fallback, which calls ``score``, never runs."""
    y, scores = binary_data(10_000, seed=1)
    calls: list[str] = []

    def counted(metric: str, *args: object, **kwargs: object) -> float:
        calls.append(metric)
        return score(metric, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(calibration, "score", counted)
    metrics = list(TASK_METRICS["binary"])
    intervals = bootstrap_intervals("binary", y, scores, metrics, n_boot=50)
    assert calls == []
    assert set(intervals) == set(metrics)
    for metric, (low, high) in intervals.items():
        assert np.isfinite([low, high]).all(), metric
        assert low <= score(metric, y, scores, classes=BINARY) <= high, metric


def test_bootstrap_intervals_without_a_defined_resample_are_nan() -> None:
    y = np.zeros(50, dtype=int)
    scores = np.c_[np.full(50, 0.6), np.full(50, 0.4)]
    intervals = bootstrap_intervals(
        "binary", y, scores, ["roc_auc", "accuracy"], classes=BINARY, n_boot=20
    )
    assert np.isnan(intervals["roc_auc"]).all()
    assert intervals["accuracy"] == (1.0, 1.0)


def test_paired_delta_of_identical_models_is_zero() -> None:
    y, scores = binary_data(300, seed=4)
    assert paired_bootstrap_delta("roc_auc", y, scores, scores.copy()) == (0.0, 0.0, 0.0)


def test_paired_delta_of_a_clearly_better_model_is_above_zero() -> None:
    y, strong = binary_data(1000, seed=5, signal=0.35)
    _, weak = binary_data(1000, seed=6, signal=0.0)  # pure noise: AUC near 0.5
    delta, low, high = paired_bootstrap_delta("roc_auc", y, strong, weak, classes=BINARY)
    expected = score("roc_auc", y, strong, classes=BINARY) - score(
        "roc_auc", y, weak, classes=BINARY
    )
    assert delta == pytest.approx(expected, abs=1e-12)
    assert 0 < low < delta < high
    # lower is better: the better model's rmse minus the worse one's lies below 0
    rng = np.random.default_rng(0)
    target = rng.normal(0, 1, 500)
    _, low, high = paired_bootstrap_delta(
        "rmse", target, target + rng.normal(0, 0.5, 500), target + rng.normal(0, 1, 500)
    )
    assert low < high < 0


def test_paired_delta_of_models_differing_by_noise_contains_zero() -> None:
    rng = np.random.default_rng(8)
    n = 2000
    y = rng.integers(0, 2, n)
    signal = 0.5 + 0.2 * (2 * y - 1)

    def noisy() -> np.ndarray:
        p = np.clip(signal + rng.normal(0, 0.25, n), 0.001, 0.999)
        return np.c_[1 - p, p]

    delta, low, high = paired_bootstrap_delta("roc_auc", y, noisy(), noisy(), classes=BINARY)
    assert low < 0 < high
    assert low < delta < high


def test_a_small_slice_worse_by_noise_is_not_flagged() -> None:
    rng = np.random.default_rng(4)
    n = 2000
    y = rng.integers(0, 2, n)
    small = np.zeros(n, dtype=bool)
    small[:40] = True  # 40 rows, somewhat noisier scores
    logit = 2.0 * (y - 0.5) + rng.normal(0, np.where(small, 1.2, 1.0))
    proba = 1 / (1 + np.exp(-logit))
    scores = np.column_stack([1 - proba, proba])
    frame = pd.DataFrame({"segment": np.where(small, "small", "large")})
    kwargs = dict(columns=["segment"], metric="roc_auc", classes=np.array([0, 1]))
    plain = evaluate_slices("binary", frame, y, scores, n_boot=0, **kwargs)  # type: ignore[arg-type]
    tested = evaluate_slices("binary", frame, y, scores, **kwargs)  # type: ignore[arg-type]
    small_plain = next(r for r in plain if r.value == "small")
    small_tested = next(r for r in tested if r.value == "small")
    assert small_plain.flagged  # worse than overall by more than 5%
    assert not small_tested.flagged and "within noise" in str(small_tested.reason)
    low, high = small_tested.interval  # type: ignore[misc]
    assert low < small_tested.metrics["roc_auc"] < high
