"""``headway monitor`` on a trained churn project: predictions logged with an injected
covariate shift are flagged on the shifted columns and move the label-free estimate; an
injected concept shift is caught once labels arrive. Each test logs its own period of time
and monitors only that period."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from headway import Project, run_pipeline
from headway.controlplane import MonitoringStore
from headway.datasets.churn import make_churn
from headway.features import feature_types_of
from headway.features.contract import coerce_features
from headway.pipeline.monitor import monitor_project
from headway.predictions import Feedback, PredictionRecord, new_ids, open_prediction_log
from headway.registry import ModelRegistry, layout
from tests.helpers import make_project, run_cli, serving
from tests.monitoring.conftest import Receiver

# Columns the churn generator moves under covariate drift (total_charges follows two of them).
SHIFTED = {"contract", "tenure_months", "monthly_charges", "support_tickets_90d",
           "days_since_last_login"}  # fmt: skip
MAY_FOLLOW = {"total_charges"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = make_project(tmp_path_factory.mktemp("monitor") / "churn")
    loaded = Project.load(root)
    run_pipeline(loaded)
    return loaded


def _log(
    project: Project,
    frame: pd.DataFrame,
    start: datetime,
    *,
    labels: bool = False,
    drop: tuple[str, ...] = (),
) -> list[str]:
    """Score ``frame`` with the champion and log it from ``start``, one row a second."""
    cfg = project.config
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    info = registry.version_by_alias(cfg.model_name, layout.CHAMPION)
    assert info is not None
    estimator = registry.load_estimator(f"models:/{cfg.model_name}/{info.version}")
    types = feature_types_of(estimator)
    proba = estimator.predict_proba(coerce_features(frame, types)[list(types.columns)])[:, 1]
    predicted = (proba >= estimator.threshold).astype(int)
    ids = new_ids(len(frame))
    columns = [c for c in types.columns if c not in drop]
    cells = frame[columns].astype(object).where(frame[columns].notna(), None)
    records = [
        PredictionRecord(
            prediction_id=ids[i],
            timestamp=start + timedelta(seconds=i),
            model_name=cfg.model_name,
            model_version=info.version,
            route="champion",
            inputs={
                c: (v.item() if hasattr(v, "item") else v)
                for c, v in zip(columns, row, strict=True)
            },
            outputs={"prediction": int(predicted[i]), "probability": float(proba[i])},
            latency_ms=1.0,
        )
        for i, row in enumerate(cells.itertuples(index=False))
    ]
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        log.append(records)
        if labels:
            log.add_feedback(
                [Feedback(ids[i], int(frame["churned"].iloc[i])) for i in range(len(frame))]
            )
    return ids


def _period(day: int) -> tuple[datetime, datetime]:
    start = datetime(2030, 1, day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def test_covariate_shift_is_flagged_on_the_shifted_columns(project: Project) -> None:
    calm_start, calm_end = _period(1)
    shift_start, shift_end = _period(2)
    _log(project, make_churn(2000, seed=101), calm_start)
    _log(project, make_churn(2000, seed=102, drift="covariate"), shift_start)

    calm = monitor_project(project, since=calm_start, until=calm_end).windows[0]
    shifted = monitor_project(project, since=shift_start, until=shift_end).windows[0]

    assert (calm.status, calm.rows, calm.drifted_columns, calm.alarms) == ("ok", 2000, [], [])
    assert SHIFTED <= set(shifted.drifted_columns) <= SHIFTED | MAY_FOLLOW
    assert {f"drift:{c}" for c in SHIFTED} <= set(shifted.alarms)
    for column in shifted.columns:
        assert column.method in ("wasserstein", "jensen_shannon")  # 2000 rows: distances
    # Before any label: the estimate moves, realised performance waits.
    before, after = calm.performance["estimated"], shifted.performance["estimated"]
    assert (
        after["interval"][1] < before["interval"][0] or after["interval"][0] > before["interval"][1]
    )
    assert shifted.performance["realised"]["rows"] == 0
    with MonitoringStore.for_project(project) as store:
        stored = store.windows(project.config.model_name, since=shift_start)
    assert [w.window_start for w in stored] == [shift_start]
    assert set(stored[0].report["drifted_columns"]) == set(shifted.drifted_columns)


def test_concept_shift_is_caught_once_labels_arrive(project: Project) -> None:
    start, end = _period(3)
    _log(
        project, make_churn(3000, seed=103, drift="concept", drift_strength=1.5), start, labels=True
    )

    report = monitor_project(project, since=start, until=end).windows[0]

    assert report.drifted_columns == []
    realised = report.performance["realised"]
    assert realised["rows"] == 3000 and realised["dropped"] is True
    assert realised["interval"][1] < report.performance["evaluated"] - 0.02
    assert "performance" in report.alarms and "estimated_performance" not in report.alarms
    assert any(
        "concept shift is invisible" in a for a in report.performance["estimated"]["assumptions"]
    )
    slices = report.performance["slices"]
    assert slices, "the slices dragging the metric are ranked"
    assert [s["contribution"] for s in slices] == sorted(
        (s["contribution"] for s in slices), reverse=True
    )
    top = slices[0]
    assert top["interval"][0] <= top["metric"] <= top["interval"][1]
    assert report.business_value == {} or "realised" in report.business_value


def test_row_windows_too_small_a_window_and_a_missing_column(project: Project) -> None:
    start, end = _period(4)
    _log(project, make_churn(1050, seed=104), start, drop=("age",))

    run = monitor_project(project, since=start, until=end, window="500rows", store=False)

    assert [w.rows for w in run.windows] == [500, 500, 50]
    assert [w.status for w in run.windows] == ["ok", "ok", "too_few_rows"]
    first = run.windows[0]
    assert first.schema["missing"] == ["age"] and "schema:age" in first.alarms
    assert "age" not in [c.column for c in first.columns]
    assert "fewer than monitoring.min_rows" in run.windows[2].notes[0]
    assert all(c.method in ("ks", "chi_square") for c in first.columns)  # 500 rows: tests


def test_cli_prints_the_documented_json(project: Project) -> None:
    start, end = _period(5)
    _log(project, make_churn(600, seed=105), start, labels=True)

    result = run_cli(
        "monitor", "--project", str(project.root), "--since", start.isoformat(),
        "--until", end.isoformat(), "--json",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (window,) = doc["windows"]
    assert window["window"] == {"start": start.isoformat(), "end": end.isoformat(), "rows": 600}
    assert {"column", "method", "statistic", "threshold", "drifted"} <= set(window["columns"][0])
    assert set(window) >= {"dataset_drift", "prediction_drift", "performance"}
    assert window["performance"]["realised"]["rows"] == 600
    assert window["performance"]["estimated"]["rows"] == 600
    assert (
        window["performance"]["realised"]["interval"][0]
        <= window["performance"]["realised"]["value"]
    )


def test_cli_refuses_a_malformed_window(project: Project) -> None:
    result = run_cli("monitor", "--project", str(project.root), "--window", "fortnight")
    assert result.returncode != 0
    assert "--window" in result.stderr and "neither a duration" in result.stderr


def test_a_version_without_a_reference_gets_one_from_its_snapshot(project: Project) -> None:
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    info = registry.version_by_alias(project.config.model_name, layout.CHAMPION)
    assert info is not None
    folder = Path(registry.client.get_run(info.run_id).info.artifact_uri.removeprefix("file://"))
    saved = folder.parent / "saved-monitoring"
    shutil.move(folder / "monitoring", saved)
    try:
        start, end = _period(6)
        _log(project, make_churn(400, seed=106), start)
        report = monitor_project(project, since=start, until=end, store=False).windows[0]
        rebuilt = json.loads((folder / layout.REFERENCE.path).read_text())
        original = json.loads((saved / "reference.json").read_text())
    finally:
        shutil.rmtree(folder / "monitoring", ignore_errors=True)
        shutil.move(saved, folder / "monitoring")
    assert report.status == "ok" and report.drifted_columns == []
    assert (folder / layout.REFERENCE_SAMPLE.path).is_file()
    assert rebuilt["rows"] == original["rows"]
    assert rebuilt["features"] == original["features"]
    assert np.isclose(rebuilt["prediction"]["mean"], original["prediction"]["mean"])


def _samples(text: str, name: str) -> dict[str, float]:
    """``{labels: value}`` of the metric ``name`` in a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels, _, value = line[len(name) :].rpartition(" ")
            out[labels] = float(value)
    return out


def test_the_server_publishes_the_latest_stored_window(project: Project) -> None:
    start, end = _period(20)
    _log(project, make_churn(1500, seed=120, drift="covariate"), start)
    window = monitor_project(project, since=start, until=end).windows[0]
    drifted = set(window.drifted_columns)
    assert drifted

    with serving(project.root, "--workers", "1") as url:
        deadline = time.monotonic() + 30
        detected: dict[str, float] = {}
        while time.monotonic() < deadline and len(detected) < len(window.columns):
            detected = _samples(httpx.get(f"{url}/metrics").text, "headway_drift_detected")
            time.sleep(0.5)
        page = httpx.get(f"{url}/metrics").text

    version = window.model_version
    name = project.config.model_name
    expected = {
        f'{{column="{c.column}",model="{name}",version="{version}"}}': float(c.drifted)
        for c in window.columns
    }
    assert detected == expected
    assert _samples(page, "headway_monitor_last_window_end_timestamp_seconds") == {
        f'{{model="{name}"}}': end.timestamp()
    }
    estimated = _samples(page, "headway_performance")
    key = f'{{kind="estimated",metric="roc_auc",model="{name}",version="{version}"}}'
    assert estimated[key] == pytest.approx(window.performance["estimated"]["value"])
    assert _samples(page, "headway_dataset_drift") == {
        f'{{model="{name}",version="{version}"}}': float(window.dataset_drift["drifted"])
    }


def test_cli_posts_alarms_to_the_webhook_and_status_lists_the_pages(
    project: Project, receiver: Receiver
) -> None:
    url, received, _ = receiver
    start, end = _period(8)
    _log(project, make_churn(1200, seed=108, drift="covariate"), start)

    result = run_cli(
        "monitor", "--project", str(project.root), "--since", start.isoformat(),
        "--until", end.isoformat(), "--json", env={"HEADWAY_MONITOR_WEBHOOK_URL": f"{url}/hook"},
    )  # fmt: skip
    status = run_cli("status", "--project", str(project.root), "--json")

    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    (window,) = doc["windows"]
    assert doc["webhook"] == {"sent": True, "alerts": len(window["alarms"])}
    (payload,) = received
    assert {a["labels"].get("column") for a in payload["alerts"]} >= SHIFTED
    (page,) = doc["reports"]
    assert Path(page).is_file() and "drift score" in Path(page).read_text()
    reports = json.loads(status.stdout)["reports"]["monitoring"]
    assert (
        page in reports["windows"] and Path(reports["latest"]).read_text() == Path(page).read_text()
    )


def test_late_labels_count_in_the_window_of_their_prediction(project: Project) -> None:
    start = datetime(2030, 2, 1, tzinfo=UTC)
    first = make_churn(300, seed=109)
    ids = _log(project, first, start)  # 300 predictions in the first hour
    _log(project, make_churn(300, seed=110), start + timedelta(hours=1))
    late = start + timedelta(days=3)  # the labels of the first hour are observed days later
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        log.add_feedback(
            [
                Feedback(i, int(y), observed_at=late)
                for i, y in zip(ids, first["churned"], strict=True)
            ]
        )

    run = monitor_project(
        project, since=start, until=start + timedelta(hours=2), window="1h", store=False
    )

    assert [w.performance["realised"]["rows"] for w in run.windows] == [300, 0]
