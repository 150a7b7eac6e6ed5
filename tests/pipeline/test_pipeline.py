from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from headway import PipelineResult, Project, run_pipeline
from headway.registry import CHAMPION, ModelRegistry
from tests.helpers import FAST_TRIALS, make_project


def test_first_run_registers_and_promotes(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    assert result.dataset.n_rows == 3000
    assert result.validation.passed
    assert result.model.n_trials == FAST_TRIALS
    assert 0.6 < result.evaluation.metrics["roc_auc"] <= 1.0
    low, high = result.evaluation.intervals["roc_auc"]
    assert low < result.evaluation.metrics["roc_auc"] < high
    assert result.evaluation.n_test == 600
    assert result.blessing.blessed
    assert result.version.aliases == (CHAMPION,)
    champion = ModelRegistry(project.tracking_uri).version_by_alias("churn", CHAMPION)
    assert champion is not None and champion.version == result.version.version
    assert (project.state_dir / "mlflow.db").is_file()
    assert (project.state_dir / "artifacts").is_dir()


def test_run_is_tracked_with_lineage(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    client = MlflowClient(tracking_uri=project.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.data.tags["headway.dataset_hash"] == result.dataset.content_hash
    assert run.data.tags["headway.config_hash"] == project.config.config_hash()
    assert run.data.tags["headway.schema_hash"] == result.dataset.schema_hash
    assert json.loads(run.data.tags["headway.packages"])["lightgbm"].startswith("4.")
    assert run.data.tags["headway.snapshot_uri"].endswith("/data.parquet")
    assert run.data.params["data.target"] == "churned"
    assert run.data.metrics["test_roc_auc"] == pytest.approx(result.evaluation.metrics["roc_auc"])
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"data", "evaluation", "headway.yaml", "environment.json"} <= artifacts
    data_files = {a.path for a in client.list_artifacts(result.run_id, "data")}
    assert {"data/schema.yaml", "data/validation_report.html", "data/split.json"} <= data_files
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == FAST_TRIALS
    assert all("valid_roc_auc" in c.data.metrics for c in children)
    version = client.get_model_version("churn", result.version.version)
    assert version.tags["headway.blessed"] == "true"
    assert version.tags["headway.dataset_hash"] == result.dataset.content_hash
    assert json.loads(version.tags["headway.feature_columns"]) == list(result.model.feature_columns)
    assert "customer_id" not in result.model.feature_columns
    assert "observed_at" not in result.model.feature_columns


def test_plain_mlflow_loads_champion_with_raw_columns(
    trained: tuple[Project, PipelineResult],
) -> None:
    """A vanilla ``mlflow.pyfunc.load_model`` (headway not imported) predicts raw rows."""
    project, result = trained
    script = f"""
import sys, json, mlflow, pandas as pd
mlflow.set_tracking_uri({project.tracking_uri!r})
model = mlflow.pyfunc.load_model("models:/churn@champion")
frame = pd.read_csv({str(project.data_path)!r}).tail(50).drop(columns=["churned"])
predictions = model.predict(frame)
assert "headway" not in sys.modules, "headway was imported"
print(json.dumps([int(p) for p in predictions]))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    predictions = json.loads(out.stdout.strip().splitlines()[-1])
    frame = pd.read_csv(project.data_path).tail(50)
    from headway.features import feature_frame

    expected = result.model.estimator.predict(feature_frame(frame, result.model))
    assert predictions == [int(p) for p in expected]
    assert set(predictions) <= {0, 1}


def test_same_data_again_keeps_the_champion(tmp_path: Path) -> None:
    """With one worker the search is deterministic: the second run ties and does not move
    the alias. (Several workers may pick another winner; reproduce covers that case.)"""
    project = Project.load(make_project(tmp_path / "p", rows=1500, training={"n_workers": 1}))
    first = run_pipeline(project)
    second = run_pipeline(project)
    # Equal up to floating-point noise: a threaded BLAS may change the last bits of a fit.
    assert second.evaluation.metrics == pytest.approx(first.evaluation.metrics, rel=1e-9)
    assert not second.blessing.blessed
    assert second.blessing.champion_version == first.version.version
    assert any("does not beat champion" in r for r in second.blessing.reasons)
    registry = ModelRegistry(project.tracking_uri)
    assert registry.version_by_alias("churn", CHAMPION).version == first.version.version
    rejected = registry.get_version("churn", second.version.version)
    assert rejected.aliases == () and not rejected.blessed
    from headway.controlplane import AuditLog

    with AuditLog.for_project(project) as audit:
        decisions = [(e.action, e.version) for e in audit.events()]
        (not_blessed,) = audit.events(action="not_blessed")
    assert decisions == [
        ("registered", first.version.version),
        ("blessed", first.version.version),
        ("promoted", first.version.version),
        ("registered", second.version.version),
        ("not_blessed", second.version.version),
    ]
    assert "does not beat champion" in not_blessed.reason


def test_unreachable_gate_registers_without_alias(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=1500, gates={"min_metrics": {"roc_auc": 0.999}})
    result = run_pipeline(Project.load(root))
    assert not result.blessing.blessed
    assert result.version.aliases == ()
    assert (
        ModelRegistry(Project.load(root).tracking_uri).version_by_alias("churn", CHAMPION) is None
    )


def test_uninstalled_family_stops_the_run_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dataclasses

    from headway import TrainingError
    from headway.training.families import FAMILIES

    missing = dataclasses.replace(FAMILIES["xgboost"], requires="headway_absent_library")
    monkeypatch.setitem(FAMILIES, "xgboost", missing)
    root = make_project(tmp_path / "p", rows=500, training={"model_families": ["xgboost"]})
    with pytest.raises(TrainingError, match=r"pip install 'headway\[xgboost\]'"):
        run_pipeline(Project.load(root))
    assert not (root / ".headway").exists()  # nothing ingested, tracked or registered


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_model_registers_and_loads_with_plain_mlflow(
    tmp_path: Path, method: str
) -> None:
    import mlflow

    training = {
        "validation": "holdout",
        "calibration": method,
        "model_families": ["linear"],
        "n_workers": 1,
    }
    root = make_project(tmp_path / "p", rows=3000, training=training)
    project = Project.load(root)
    result = run_pipeline(project)
    assert result.model.calibration == method
    mlflow.set_tracking_uri(project.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/churn/{result.version.version}")
    frame = pd.read_csv(root / "data/customers.csv").head(50)
    labels = model.predict(frame)
    assert set(labels) <= {0, 1} and len(labels) == 50
    proba = mlflow.sklearn.load_model(f"models:/churn/{result.version.version}").predict_proba(
        frame[list(result.model.feature_columns)]
    )
    assert np.allclose(proba.sum(axis=1), 1.0)
