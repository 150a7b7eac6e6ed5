from __future__ import annotations

from headway.artifacts import EvaluationReport
from headway.gates import bless
from headway.project import GateConfig


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
