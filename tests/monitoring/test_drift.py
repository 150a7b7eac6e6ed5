"""Column sketches and drift tests: statistics against exact values, verdicts on simulated
windows with and without a shift, and the awkward columns (all null, constant, new
categories)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from headway.monitoring.drift import (
    DriftSettings,
    choose_method,
    column_statistics,
    dataset_drift,
    drift_columns,
    hellinger,
    js_distance,
    psi,
)
from headway.monitoring.sketch import ColumnSketch, count_window, sketch_column

RNG_SEED = 11


def _reference(n: int = 20_000, seed: int = RNG_SEED) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(50, 10, n),
            "y": rng.gamma(2.0, 3.0, n),
            "k": rng.poisson(1.0, n).astype(float),
            "c": rng.choice(["a", "b", "c", "d"], n, p=[0.4, 0.3, 0.2, 0.1]),
        }
    )


def _window(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    frame = _reference(n, seed)
    frame["x"] = frame["x"] + shift * 10  # shift in standard deviations of x
    return frame


def _sketches(frame: pd.DataFrame) -> dict[str, ColumnSketch]:
    return {c: sketch_column(frame[c]) for c in frame.columns}


def test_numeric_sketch_counts_every_row_in_its_bin() -> None:
    values = pd.Series([1.0, 2.0, np.nan, 2.0, 3.0, 10.0, np.nan], name="v")
    sketch = sketch_column(values)
    assert (sketch.kind, sketch.rows, sketch.nulls, sketch.distinct) == ("numeric", 7, 2, 4)
    assert sum(sketch.counts) == 5
    bins = np.searchsorted(sketch.edges, values.dropna(), side="right")
    assert sketch.counts == np.bincount(bins, minlength=len(sketch.edges) + 1).tolist()
    assert sketch.sums == pytest.approx(
        np.bincount(bins, weights=values.dropna(), minlength=len(sketch.edges) + 1).tolist()
    )
    assert (sketch.minimum, sketch.maximum) == (1.0, 10.0)
    assert ColumnSketch.from_dict(sketch.to_dict()) == sketch


def test_window_counts_match_a_direct_binning() -> None:
    reference = _reference()
    sketch = sketch_column(reference["y"])
    window = pd.Series(np.r_[np.random.default_rng(3).gamma(2.0, 4.0, 5000), [np.nan] * 7])
    counts = count_window(sketch, window)
    present = window.dropna().to_numpy()
    bins = np.searchsorted(sketch.edges, present, side="right")
    assert counts.nulls == 7
    assert counts.counts.tolist() == np.bincount(bins, minlength=len(sketch.edges) + 1).tolist()
    assert counts.mean == pytest.approx(present.mean())


def test_binned_wasserstein_and_ks_track_the_exact_statistics() -> None:
    reference = _reference()
    sketch = sketch_column(reference["x"])
    for shift, scale in ((0.0, 1.0), (0.3, 1.0), (0.5, 1.3), (5.0, 1.0)):
        window = pd.Series(np.random.default_rng(5).normal(50 + shift * 10, 10 * scale, 50_000))
        found, direction = column_statistics(sketch, count_window(sketch, window))
        exact_w = stats.wasserstein_distance(reference["x"], window) / reference["x"].std(ddof=0)
        exact_ks = stats.ks_2samp(reference["x"], window).statistic
        assert found["wasserstein"] == pytest.approx(exact_w, abs=0.01 + 0.01 * exact_w)
        # The KS statistic on bins is a lower bound, within one bin's share of the exact one.
        assert exact_ks - 0.011 <= found["ks"] <= exact_ks + 1e-12
        assert direction == ("up" if shift > 0 else direction)


def test_wasserstein_is_exact_for_a_discrete_column() -> None:
    reference = _reference()
    sketch = sketch_column(reference["k"])
    window = pd.Series(np.random.default_rng(8).poisson(1.6, 4000).astype(float))
    found, _ = column_statistics(sketch, count_window(sketch, window))
    exact = stats.wasserstein_distance(reference["k"], window) / reference["k"].std(ddof=0)
    assert found["wasserstein"] == pytest.approx(exact, rel=1e-9)


def test_distances_of_identical_and_disjoint_distributions() -> None:
    same = np.array([10.0, 20.0, 30.0])
    assert psi(same, same) == pytest.approx(0.0)
    assert js_distance(same, same) == pytest.approx(0.0)
    assert hellinger(same, same) == pytest.approx(0.0)
    left, right = np.array([5.0, 5.0, 0.0, 0.0]), np.array([0.0, 0.0, 3.0, 7.0])
    assert js_distance(left, right) == pytest.approx(1.0)  # base 2: at most 1
    assert hellinger(left, right) == pytest.approx(1.0)
    # PSI of two bins 60/40 against 40/60: 2 * 0.2 * ln(1.5)
    assert psi(np.array([60.0, 40.0]), np.array([40.0, 60.0])) == pytest.approx(0.4 * np.log(1.5))


def test_automatic_method_follows_kind_and_window_size() -> None:
    reference = _reference()
    sketches = _sketches(reference)
    assert choose_method(sketches["x"], 1000) == "ks"
    assert choose_method(sketches["x"], 1001) == "wasserstein"
    assert choose_method(sketches["c"], 500) == "chi_square"
    assert choose_method(sketches["c"], 5000) == "jensen_shannon"
    few = sketch_column(pd.Series([0.0, 1.0, 2.0] * 100))
    assert choose_method(few, 5000) == "jensen_shannon"  # five values or fewer: categories


@pytest.mark.parametrize("rows", [300, 3000])
def test_no_shift_raises_few_false_alarms(rows: int) -> None:
    """A/A: 100 windows drawn from the reference distribution; with alpha = 0.01 across the
    columns, about one window in a hundred may flag a column."""
    sketches = _sketches(_reference())
    alarmed = 0
    for seed in range(100):
        results = drift_columns(sketches, _window(rows, 1000 + seed))
        alarmed += any(r.drifted for r in results)
    assert alarmed <= 3


@pytest.mark.parametrize("rows", [500, 5000])
def test_half_a_standard_deviation_in_one_column_is_found_in_every_window(rows: int) -> None:
    sketches = _sketches(_reference())
    for seed in range(20):
        results = {
            r.column: r for r in drift_columns(sketches, _window(rows, 2000 + seed, shift=0.5))
        }
        assert results["x"].drifted, (seed, results["x"])
        assert results["x"].direction == "up"
        assert [c for c, r in results.items() if r.drifted] == ["x"]


def test_each_result_states_its_evidence() -> None:
    sketches = _sketches(_reference())
    small = {r.column: r for r in drift_columns(sketches, _window(400, 5, shift=1.0))}
    x = small["x"]
    assert (x.method, x.threshold_source) == ("ks", "bonferroni")
    assert x.threshold == pytest.approx(0.01 / 4)
    assert x.p_value is not None and x.p_value < x.threshold and x.statistic == x.statistics["ks"]
    large = {r.column: r for r in drift_columns(sketches, _window(4000, 5, shift=1.0))}
    assert (large["x"].method, large["x"].threshold, large["x"].p_value) == (
        "wasserstein",
        0.1,
        None,
    )
    assert large["x"].statistic == pytest.approx(1.0, abs=0.05)
    assert set(large["x"].statistics) >= {"psi", "jensen_shannon", "hellinger", "ks", "chi_square"}


def test_thresholds_learnt_from_reference_chunks() -> None:
    reference = _reference()
    sketches = _sketches(reference)
    settings = DriftSettings(threshold_source="reference")
    calm = drift_columns(sketches, _window(5000, 77), settings, sample=reference)
    assert all(r.threshold_source == "reference" for r in calm)
    assert all(0 < r.threshold < 0.1 for r in calm)  # tighter than the fixed 0.1 at 5000 rows
    assert not any(r.drifted for r in calm)
    shifted = {
        r.column: r
        for r in drift_columns(sketches, _window(5000, 77, shift=0.2), settings, sample=reference)
    }
    assert shifted["x"].drifted and not shifted["y"].drifted


def test_configured_method_and_threshold_are_used() -> None:
    sketches = _sketches(_reference())
    settings = DriftSettings(
        method="psi", column_methods={"c": "hellinger"}, thresholds={"psi": 0.5}
    )
    results = {r.column: r for r in drift_columns(sketches, _window(3000, 9, shift=0.5), settings)}
    assert (results["x"].method, results["x"].threshold) == ("psi", 0.5)
    assert (results["c"].method, results["c"].threshold) == ("hellinger", 0.1)
    ks_on_category = DriftSettings(method="ks")
    assert (
        drift_columns({"c": sketches["c"]}, _window(300, 9), ks_on_category)[0].method
        == "chi_square"
    )


def test_awkward_columns_are_handled() -> None:
    reference = _reference()
    reference["constant"] = 3.0
    sketches = _sketches(reference)
    window = _window(2000, 4)
    window["constant"] = 3.0
    window["y"] = np.nan  # arrives empty
    window.loc[:99, "c"] = "brand-new"
    results = {r.column: r for r in drift_columns(sketches, window)}
    assert results["constant"].drifted is False
    assert (results["y"].drifted, results["y"].direction, results["y"].null_rate) == (
        True,
        "all null",
        1.0,
    )
    assert results["c"].new_categories == {"brand-new": 100}
    assert results["c"].direction.startswith("(new)")


def test_an_all_null_reference_column_does_not_crash() -> None:
    sketch = sketch_column(pd.Series([np.nan] * 50, name="z", dtype=float))
    result = drift_columns({"z": sketch}, pd.DataFrame({"z": [1.0, 2.0, np.nan]}))[0]
    assert result.column == "z" and result.to_dict()["column"] == "z"


def test_dataset_drift_share_and_importance_weights() -> None:
    sketches = _sketches(_reference())
    results = drift_columns(sketches, _window(3000, 12, shift=1.0))
    plain = dataset_drift(results, share=0.5)
    assert (plain["drifted"], plain["columns"], plain["of"], plain["share"]) == (False, 1, 4, 0.25)
    weighted = dataset_drift(results, share=0.5, weights={"x": 9.0, "y": 1.0, "k": 1.0, "c": 1.0})
    assert weighted["drifted"] is True and weighted["share"] == pytest.approx(0.75)
