from __future__ import annotations

from headway.artifacts import EvaluationReport
from headway.config import GateConfig
from headway.gates import bless


def report(metric: str, value: float, **others: float) -> EvaluationReport:
    higher = metric != "rmse"
    return EvaluationReport(metric, higher, {metric: value, **others}, {}, 100)


def test_thresholds_without_champion() -> None:
    ok = bless(report("roc_auc", 0.8), config=GateConfig(min_metrics={"roc_auc": 0.7}))
    assert ok.blessed and ok.champion_version is None
    low = bless(report("roc_auc", 0.65), config=GateConfig(min_metrics={"roc_auc": 0.7}))
    assert not low.blessed
    assert "roc_auc=0.6500 is below the minimum 0.7" in low.reasons


def test_max_metric_and_missing_metric() -> None:
    config = GateConfig(max_metrics={"rmse": 10.0}, min_metrics={"r2": 0.5})
    result = bless(report("rmse", 12.0), config=config)
    assert not result.blessed
    assert any("above the maximum 10.0" in r for r in result.reasons)
    assert any("r2=missing" in r for r in result.reasons)


def test_must_beat_champion_strictly() -> None:
    config = GateConfig()
    tie = bless(
        report("roc_auc", 0.8), config=config, champion=report("roc_auc", 0.8), champion_version="3"
    )
    assert not tie.blessed and tie.champion_value == 0.8
    noise = bless(
        report("roc_auc", 0.8 + 1e-15),
        config=config,
        champion=report("roc_auc", 0.8),
        champion_version="3",
    )
    assert not noise.blessed  # floating-point noise is a tie, not an improvement
    better = bless(
        report("roc_auc", 0.81),
        config=config,
        champion=report("roc_auc", 0.8),
        champion_version="3",
    )
    assert better.blessed


def test_min_improvement_and_lower_is_better() -> None:
    config = GateConfig(min_improvement=0.5)
    small = bless(
        report("rmse", 9.8), config=config, champion=report("rmse", 10.0), champion_version="1"
    )
    assert not small.blessed  # improves by 0.2 < 0.5
    large = bless(
        report("rmse", 9.0), config=config, champion=report("rmse", 10.0), champion_version="1"
    )
    assert large.blessed
    worse = bless(
        report("rmse", 11.0),
        config=GateConfig(),
        champion=report("rmse", 10.0),
        champion_version="1",
    )
    assert not worse.blessed


def test_nan_metrics_fail_bounds_and_unscorable_champion_is_named() -> None:
    nan = bless(report("roc_auc", float("nan")), config=GateConfig(min_metrics={"roc_auc": 0.5}))
    assert not nan.blessed
    alone = bless(report("roc_auc", 0.8), config=GateConfig(), champion=None, champion_version="4")
    assert alone.blessed
    assert "champion v4 cannot score this holdout" in alone.reasons[-1]


def test_change_must_clear_the_noise_of_a_paired_bootstrap() -> None:
    config = GateConfig(min_improvement=0.005)
    champ = report("roc_auc", 0.80)
    # estimate +0.02, interval entirely above the bar: blessed
    better = bless(
        report("roc_auc", 0.82), config=config, champion=champ, champion_version="1",
        change=(0.02, 0.01, 0.03),
    )  # fmt: skip
    assert better.blessed and better.change == (0.02, 0.01, 0.03)
    assert "improves beyond noise" in better.reasons[-1]
    # a better point estimate whose interval reaches below the bar: a tie within noise
    noisy = bless(
        report("roc_auc", 0.82), config=config, champion=champ, champion_version="1",
        change=(0.02, -0.004, 0.04),
    )  # fmt: skip
    assert not noisy.blessed and "within noise" in noisy.reasons[-1]
    assert noisy.failed_checks[0]["name"] == "champion"
    worse = bless(
        report("roc_auc", 0.75), config=config, champion=champ, champion_version="1",
        change=(-0.05, -0.07, -0.03),
    )  # fmt: skip
    assert not worse.blessed and "worse beyond noise" in worse.reasons[-1]


def test_change_direction_for_lower_is_better_and_relative_bar() -> None:
    config = GateConfig(min_relative_improvement=0.05)  # 5% of the champion's 10.0
    champ = report("rmse", 10.0)
    # rmse 9.0 vs 10.0: the raw difference is -1.0 (candidate minus champion), better
    ok = bless(
        report("rmse", 9.0), config=config, champion=champ, champion_version="2",
        change=(-1.0, -1.3, -0.6),
    )  # fmt: skip
    assert ok.blessed and ok.change == (1.0, 0.6, 1.3)
    short = bless(
        report("rmse", 9.7), config=config, champion=champ, champion_version="2",
        change=(-0.3, -0.45, -0.2),
    )  # fmt: skip
    assert not short.blessed and "required 0.5" in short.reasons[-1]


def test_fairness_latency_and_size_budgets() -> None:
    config = GateConfig(
        max_demographic_parity_difference=0.1,
        max_equalized_odds_difference=0.2,
        max_latency_ms=5.0,
        max_model_size_mb=1.0,
    )
    fair = {"column": "sex", "demographic_parity_difference": 0.04,
            "equalized_odds_difference": 0.25}  # fmt: skip
    candidate = EvaluationReport(
        "roc_auc", True, {"roc_auc": 0.8}, {}, 100,
        fairness=(fair,), latency_p95_ms=2.5, size_mb=3.2,
    )  # fmt: skip
    result = bless(candidate, config=config)
    assert not result.blessed
    failed = {c["name"] for c in result.failed_checks}
    assert failed == {"fairness:sex:equalized_odds_difference", "size_mb"}
    assert any("size_mb=3.20 MB over the budget of 1 MB" in r for r in result.reasons)
    assert any("latency_p95_ms=2.50 ms within the budget" in r for r in result.reasons)
    unmeasured = bless(EvaluationReport("roc_auc", True, {"roc_auc": 0.8}, {}, 100), config=config)
    assert any(c["name"] == "latency_p95_ms" and not c["passed"] for c in unmeasured.checks)


def test_first_run_records_the_skipped_change_thresholds() -> None:
    result = bless(report("roc_auc", 0.8), config=GateConfig(min_improvement=0.01))
    assert result.blessed
    assert result.checks[-1]["detail"] == "no current champion: change thresholds skipped"
