"""The demand-forecasting task end to end: config, metrics, the demand example, reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from headway import ConfigError, Project, load_config, run_pipeline
from headway.datasets import write_example
from headway.evaluation.metrics import score
from headway.pipeline import reproduce
from headway.registry import CHAMPION, ModelRegistry
from tests.helpers import run_cli

# 60 series x 120 days: enough for 28-day lags and a time split.
ROWS = 7200


def _demand_project(directory: Path, **training: object) -> Path:
    write_example("demand", directory, n_rows=ROWS)
    path = directory / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    config["training"]["budget"] = {"trials": 4, "timeout_seconds": 60}
    config["training"].update(training)
    config["gates"] = {"max_metrics": {"wape": 0.8}}  # a short history: a looser bound
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


@pytest.fixture(scope="module")
def demand(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = _demand_project(tmp_path_factory.mktemp("demand") / "demand")
    project = Project.load(root)
    return project, run_pipeline(project)


def test_forecast_metrics_are_exact() -> None:
    y = np.array([10.0, 0.0, 5.0, 5.0])
    s = np.array([8.0, 1.0, 5.0, 10.0])
    assert score("wape", y, s) == pytest.approx((2 + 1 + 0 + 5) / 20)
    assert score("mape", y, s) == pytest.approx((0.2 + 0 + 1.0) / 3)  # zero actual skipped
    smape = np.mean([4 / 18, 2 / 1, 0, 10 / 15])
    assert score("smape", y, s) == pytest.approx(smape)


def test_forecast_config_errors(tmp_path: Path) -> None:
    base = "name: x\ndata: {source: {path: d.csv}, target: y%s}\n"
    cases = {
        "task: forecast\n" + base % "": "needs data.timestamp_column",
        "task: forecast\nforecast: {horizon: 7, lags: [1, 14]}\n"
        + base % ", timestamp_column: t": r"forecast\.lags \[1\] are shorter than",
        "task: regression\n" + base % ", series_columns: [s]": "applies to task 'forecast' only",
        "task: forecast\ntraining: {metric: roc_auc}\n"
        + base % ", timestamp_column: t": "do not apply to task 'forecast'",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"{i}.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_config(path)


def test_demand_example_trains_registers_and_serves_raw_rows(demand) -> None:  # type: ignore[no-untyped-def]
    project, result = demand
    assert result.model.family in result.model.leaderboard
    assert result.model.metric == "wape"
    assert {"wape", "mae", "rmse", "mape", "smape", "r2"} <= set(result.evaluation.metrics)
    assert 0 < result.evaluation.metrics["wape"] < 0.6
    assert result.blessing.blessed and result.version.aliases == (CHAMPION,)
    # the model takes the raw columns, the date included; lags are built inside it
    assert "date" in result.model.feature_columns
    assert not any(c.startswith("lag_") for c in result.model.feature_columns)
    frame = pd.read_csv(project.root / "data/sales.csv", parse_dates=["date"])
    naive = frame.groupby(["store_id", "product_id"])["units_sold"].shift(7)
    last = frame["date"] >= frame["date"].max() - pd.Timedelta(days=20)
    naive_wape = score("wape", frame.loc[last, "units_sold"], naive[last].fillna(0).to_numpy())
    mlflow.set_tracking_uri(project.tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/demand@{CHAMPION}")
    rows = frame.loc[last].drop(columns=["units_sold"])
    predictions = np.asarray(model.predict(rows))
    assert predictions.shape == (len(rows),) and np.isfinite(predictions).all()
    # better than "same as a week ago" (the seasonal naive forecast)
    assert score("wape", frame.loc[last, "units_sold"], predictions) < naive_wape


def test_every_trial_is_logged_and_reproduce_confirms(demand) -> None:  # type: ignore[no-untyped-def]
    project, result = demand
    client = mlflow.MlflowClient(tracking_uri=project.tracking_uri)
    run = client.get_run(result.run_id)
    children = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == result.model.n_trials == 4
    assert {c.data.params["family"] for c in children} >= {result.model.family}
    best = json.loads(
        Path(client.download_artifacts(result.run_id, "search/best_trial.json")).read_text()
    )
    assert best["family"] == result.model.family
    report = reproduce(project, "demand", result.version.version)
    assert report.matches and report.identical


@pytest.mark.slow
def test_same_data_again_keeps_the_champion(tmp_path: Path) -> None:
    # One worker: the search is deterministic, so the second run finds the same model.
    root = _demand_project(
        tmp_path / "demand",
        n_workers=1,
        model_families=["lightgbm"],
        budget={"trials": 2, "timeout_seconds": 60},
    )
    project = Project.load(root)
    first = run_pipeline(project)
    assert first.blessing.blessed and first.version.aliases == (CHAMPION,)
    second = run_pipeline(project)
    # the champion was scored on the same holdout, with the same history for its lags: a
    # tie, which does not replace it
    assert second.evaluation.metrics == pytest.approx(first.evaluation.metrics, rel=1e-9)
    assert not second.blessing.blessed and second.version.aliases == ()
    assert second.blessing.champion_version == first.version.version
    assert any("does not beat champion" in reason for reason in second.blessing.reasons)
    champion = ModelRegistry(project.tracking_uri).version_by_alias("demand", CHAMPION)
    assert champion is not None and champion.version == first.version.version


def test_duplicated_series_rows_are_a_clear_error(tmp_path: Path) -> None:
    root = _demand_project(tmp_path / "dup")
    data = root / "data/sales.csv"
    frame = pd.read_csv(data)
    again = frame.iloc[[5]].assign(units_sold=frame["units_sold"].iloc[5] + 1)
    pd.concat([frame, again]).to_csv(data, index=False)
    out = run_cli("run", "--project", str(root))
    assert out.returncode != 0
    assert "store_id" in out.stderr + out.stdout and "Aggregate" in out.stderr + out.stdout
    assert not (root / ".headway/mlflow.db").exists()  # stopped before anything was tracked


def test_init_demand_example(tmp_path: Path) -> None:
    out = run_cli("init", str(tmp_path / "d"), "--example", "demand", "--rows", "1200")
    assert out.returncode == 0, out.stderr
    config = load_config(tmp_path / "d/headway.yaml")
    assert config.task == "forecast" and config.data.series_columns == ["store_id", "product_id"]
    frame = pd.read_csv(tmp_path / "d/data/sales.csv")
    assert len(frame) == 1200 and frame.duplicated(["store_id", "product_id", "date"]).sum() == 0
