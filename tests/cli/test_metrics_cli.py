"""``headway metrics`` on a project that was never trained: audit events recorded straight
into its control-plane database, read back as JSON and as a table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from headway.cli.metrics import metrics
from headway.controlplane import AuditLog
from headway.datasets import write_example
from headway.exceptions import ProjectNotFoundError

DAY = 86400.0


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    app.command("metrics")(metrics)
    return app


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The churn example with a few rows: a project whose control plane is embedded."""
    monkeypatch.delenv("HEADWAY_CONTROL_DB_URL", raising=False)
    root = tmp_path / "churn"
    write_example("churn", root, n_rows=100)
    return root


def _record(root: Path) -> datetime:
    """Two promotions a day after their registration, a rollout rolled back, a drift
    incident recovered after 120 s; returns the time of the latest event."""
    now = datetime.now(UTC).replace(microsecond=0)
    (root / ".headway").mkdir(exist_ok=True)
    with AuditLog(f"sqlite:///{root}/.headway/control.db") as log:

        def put(action: str, days: float, version: str | None = None, **details: Any) -> None:
            log.record(
                action, model="churn", version=version, details=details,
                at=now - timedelta(days=days), actor="ops",
            )  # fmt: skip

        put("registered", 10, "1")
        put("promoted", 9, "1", alias="champion", previous=None)
        put("registered", 5, "2")
        put("rollout_started", 5, "2", rollout_id=1)
        put("rollout_rolled_back", 4.5, "2", rollout_id=1)
        put("registered", 3, "3")
        put("trigger_fired", 2 + 120 / DAY, trigger="drift", evidence={})
        put("retrain_started", 2 + 119 / DAY, trigger="drift")
        put("promoted", 2, "3", alias="champion", previous="1")
        log.record("promoted", model="fraud", version="1", at=now - timedelta(days=1))
    return now - timedelta(days=2)


def test_json_holds_the_metrics_of_the_projects_model(app: typer.Typer, project: Path) -> None:
    last = _record(project)

    result = CliRunner().invoke(app, ["--project", str(project), "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["model"] == "churn" and doc["window_days"] == 30.0
    assert datetime.fromisoformat(doc["as_of"]) - last >= timedelta(days=2)
    assert doc["deployments"] == 2
    assert doc["deployment_frequency_per_day"] == pytest.approx(2 / 30)
    assert doc["lead_time_from_training_end_seconds"] == DAY
    assert doc["last_lead_time_from_training_end_seconds"] == DAY
    assert doc["lead_time_from_training_start_seconds"] is None
    assert (doc["rollouts"], doc["rollouts_rolled_back"]) == (1, 1)
    assert doc["change_failure_rate"] == pytest.approx(1 / 3)
    assert doc["mean_time_to_recovery_seconds"] == 120.0
    assert doc["open_incident_seconds"] is None
    assert doc["model_age_seconds"] == pytest.approx(2 * DAY, abs=60)
    assert doc["retrains_by_trigger"] == {"drift": 1}
    assert doc["review_time_seconds"] is None


def test_model_and_window_options(app: typer.Typer, project: Path) -> None:
    _record(project)

    short = CliRunner().invoke(app, ["--project", str(project), "--json", "--window-days", "2.5"])
    fraud = CliRunner().invoke(app, ["--project", str(project), "--json", "--model", "fraud"])

    assert short.exit_code == 0, short.output
    doc = json.loads(short.stdout)
    assert (doc["window_days"], doc["deployments"], doc["rollouts"]) == (2.5, 1, 0)
    assert doc["change_failure_rate"] == 0.0
    assert fraud.exit_code == 0, fraud.output
    assert json.loads(fraud.stdout)["deployments"] == 1


def test_the_table_names_each_metric(app: typer.Typer, project: Path) -> None:
    _record(project)

    result = CliRunner().invoke(app, ["--project", str(project)], env={"COLUMNS": "200"})

    assert result.exit_code == 0, result.output
    assert "churn: delivery over the last 30 days" in result.stdout
    assert "2 (0.07/day)" in result.stdout
    assert "33% (1/3)" in result.stdout
    assert "2.0 min (1 recovered)" in result.stdout
    assert "1 (drift 1)" in result.stdout


def test_a_project_never_run_has_no_metrics_and_no_database(
    app: typer.Typer, project: Path
) -> None:
    result = CliRunner().invoke(app, ["--project", str(project), "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["deployments"] == 0 and doc["model_age_seconds"] is None
    assert not (project / ".headway" / "control.db").exists()


def test_a_missing_project_is_a_clear_error(app: typer.Typer, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--project", str(tmp_path / "nowhere"), "--json"])

    assert result.exit_code != 0
    assert isinstance(result.exception, ProjectNotFoundError)
    assert "nowhere: project directory does not exist" in str(result.exception)


def test_a_window_that_is_not_positive_is_refused(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["--project", str(project), "--window-days", "0"])

    assert result.exit_code == 2
    assert "--window-days" in result.output and "not a positive number" in result.output
