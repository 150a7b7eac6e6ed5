"""The evaluation stage in a run: intervals, slices, business value, fairness, SHAP, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from headway import ConfigError, PipelineResult, Project, load_config, run_pipeline
from headway.datasets import write_example
from tests.helpers import run_cli

FEATURES_EXCLUDED = {"application_id", "applied_at", "defaulted", "sex", "age_group"}


def _credit_project(directory: Path, **evaluation: object) -> Path:
    write_example("credit", directory, n_rows=4000)
    path = directory / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    config["training"]["budget"] = {"trials": 3, "timeout_seconds": 60}
    config["training"]["model_families"] = ["lightgbm", "linear"]
    config["training"]["n_workers"] = 1
    config["evaluation"].update(evaluation)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def credit(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    project = Project.load(_credit_project(tmp_path_factory.mktemp("credit") / "credit"))
    return project, run_pipeline(project)


def test_every_metric_has_an_interval_and_binary_extras(
    credit: tuple[Project, PipelineResult],
) -> None:
    _, result = credit
    report = result.evaluation
    assert set(report.intervals) == set(report.metrics)
    for name, value in report.metrics.items():
        low, high = report.intervals[name]
        assert low <= value <= high, name
    assert report.calibration_error is not None and 0 <= report.calibration_error < 0.2
    # the cost threshold: declining costs 100 in margin, a default 1000
    assert result.model.threshold == pytest.approx(0.1, abs=0.08)
    value = report.business_value
    assert value is not None and value["n"] == report.n_test
    counts = value["counts"]
    assert value["total"] == pytest.approx(
        100 * counts["true_negative"] - 1000 * counts["false_negative"]
    )
    assert value["per_1000"] == pytest.approx(value["total"] / report.n_test * 1000)


def test_slices_fairness_and_importance(credit: tuple[Project, PipelineResult]) -> None:
    _, result = credit
    report = result.evaluation
    columns = {s["column"] for s in report.slices}
    assert {"employment", "purpose", "housing"} <= columns  # configured + automatic
    assert all(s["n"] > 0 for s in report.slices)
    by_column = {f["column"]: f for f in report.fairness}
    assert set(by_column) == {"sex", "age_group"}
    sex = by_column["sex"]
    assert set(sex["by_group"]) == {"female", "male"}
    rates = [g["selection_rate"] for g in sex["by_group"].values()]
    assert sex["demographic_parity_difference"] == pytest.approx(max(rates) - min(rates))
    features = set(result.model.feature_columns)
    assert features.isdisjoint({"sex", "age_group"})  # audited, not used
    assert set(report.importance) == features
    # the generator's main drivers of default rank high
    top = list(report.importance)[:4]
    assert {"debt_to_income", "late_payments_2y", "interest_rate"} & set(top), report.importance


def test_report_and_figures_are_logged(credit: tuple[Project, PipelineResult]) -> None:
    project, result = credit
    client = MlflowClient(tracking_uri=project.tracking_uri)
    files = {a.path for a in client.list_artifacts(result.run_id, "evaluation")}
    assert {
        "evaluation/report.json",
        "evaluation/importance.png",
        "evaluation/calibration.png",
        "evaluation/confusion_matrix.png",
        "evaluation/business_value.png",
    } <= files
    metrics = client.get_run(result.run_id).data.metrics
    assert metrics["test_roc_auc_low"] < metrics["test_roc_auc"] < metrics["test_roc_auc_high"]
    assert "fairness.sex.demographic_parity_difference" in metrics
    assert "test_value_per_1000" in metrics
    stored = json.loads(
        Path(client.download_artifacts(result.run_id, "evaluation/report.json")).read_text()
    )
    assert stored["fairness"][0]["column"] == "sex"
    low, high = stored["fairness"][0]["demographic_parity_difference_interval"]
    assert metrics["fairness.sex.demographic_parity_difference_low"] == pytest.approx(low)
    assert metrics["fairness.sex.demographic_parity_difference_high"] == pytest.approx(high)
    assert low < high


def test_unknown_sensitive_column_stops_before_anything_is_tracked(tmp_path: Path) -> None:
    root = _credit_project(tmp_path / "c", sensitive_columns=["gender"])
    out = run_cli("run", "--project", str(root))
    assert out.returncode != 0
    message = out.stdout + out.stderr
    assert "gender" in message and "evaluation.sensitive_columns" in message
    assert not (root / ".headway/mlflow.db").exists()
    with pytest.raises(ConfigError, match="Did you mean 'employment'"):
        run_pipeline(Project.load(_credit_project(tmp_path / "d", slice_columns=["employmnt"])))


def test_init_credit_example(tmp_path: Path) -> None:
    out = run_cli("init", str(tmp_path / "c"), "--example", "credit", "--rows", "500")
    assert out.returncode == 0, out.stderr
    config = load_config(tmp_path / "c/headway.yaml")
    assert config.evaluation.sensitive_columns == ["sex", "age_group"]
    assert config.training.threshold == "cost"
