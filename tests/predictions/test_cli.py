"""``headway predictions`` and ``headway feedback`` on a project's embedded log."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from headway.predictions import open_prediction_log
from headway.project import Project
from tests.helpers import make_project, run_cli
from tests.predictions._records import make_records


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("cli") / "churn", rows=200)


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A project with 6 predictions (2024-05-01 22:00 .. 2024-05-02 00:30 UTC) in its log."""
    root = make_project(tmp_path / "churn", rows=200)
    project = Project.load(root)
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        log.append(make_records(6))
    return root


def test_predictions_json_lists_the_newest_first(logged: Path) -> None:
    done = run_cli("predictions", "--project", str(logged), "--json", "--limit", "4")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [row["prediction_id"] for row in doc] == ["p-5", "p-4", "p-3", "p-2"]
    assert doc[0]["timestamp"] == "2024-05-02T00:30:00+00:00"
    assert doc[0]["inputs"] == {"age": 25, "plan": "plan-2", "score": 5 / 7, "note": None}
    assert doc[0]["outputs"] == {"prediction": 1, "probability": 0.15}
    assert doc[0]["label"] is None


def test_predictions_window(logged: Path) -> None:
    done = run_cli(
        "predictions",
        "--project",
        str(logged),
        "--json",
        "--since",
        "2024-05-01T23:00:00Z",
        "--until",
        "2024-05-02",
    )
    assert done.returncode == 0, done.stderr
    assert [row["prediction_id"] for row in json.loads(done.stdout)] == ["p-3", "p-2"]


def test_predictions_table(logged: Path) -> None:
    done = run_cli("predictions", "--project", str(logged))
    assert done.returncode == 0, done.stderr
    assert "latest predictions" in done.stdout
    assert done.stdout.index("p-5") < done.stdout.index("p-0")
    assert "churn/2" in done.stdout


def test_predictions_on_an_empty_log(project_root: Path) -> None:
    done = run_cli("predictions", "--project", str(project_root))
    assert done.returncode == 0, done.stderr
    assert "No predictions logged yet" in done.stdout


def test_predictions_rejects_a_bad_time(project_root: Path) -> None:
    done = run_cli("predictions", "--project", str(project_root), "--since", "yesterday-ish")
    assert done.returncode != 0
    assert "yesterday-ish" in done.stderr


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_feedback_from_a_file(logged: Path, tmp_path: Path, suffix: str) -> None:
    labels = pd.DataFrame(
        {
            "prediction_id": ["p-1", "p-2", "ghost"],
            "label": [1, 0, 1],
            "observed_at": ["2024-05-03T00:00:00Z", "2024-05-03T01:00:00Z", None],
        }
    )
    path = tmp_path / f"labels{suffix}"
    labels.to_csv(path, index=False) if suffix == ".csv" else labels.to_parquet(path)
    done = run_cli("feedback", "--project", str(logged), "--file", str(path), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"accepted": 2, "unknown_ids": ["ghost"], "skipped": 0}
    shown = run_cli("predictions", "--project", str(logged), "--json")
    labelled = {row["prediction_id"]: row["label"] for row in json.loads(shown.stdout)}
    assert labelled == {"p-0": None, "p-1": 1, "p-2": 0, "p-3": None, "p-4": None, "p-5": None}
    text = run_cli("feedback", "--project", str(logged), "--file", str(path))
    assert text.returncode == 0, text.stderr
    assert "2 labels stored" in text.stdout
    assert "ghost" in text.stdout


def test_feedback_with_other_column_names(logged: Path, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("id,truth,when\np-4,yes,2024-05-04 10:00\np-5,,2024-05-04 10:00\n")
    done = run_cli(
        "feedback",
        "--project",
        str(logged),
        "--file",
        str(path),
        "--id-column",
        "id",
        "--label-column",
        "truth",
        "--observed-at-column",
        "when",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"accepted": 1, "unknown_ids": [], "skipped": 1}
    project = Project.load(logged)
    with open_prediction_log(None, project.predictions_dir) as log:
        labels = log.feedback()
    assert labels["label"].tolist() == ["yes"]
    assert labels["observed_at"].iloc[0].isoformat() == "2024-05-04T10:00:00+00:00"


def test_feedback_names_a_missing_file(project_root: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    done = run_cli("feedback", "--project", str(project_root), "--file", str(missing))
    assert done.returncode == 1
    assert "nope.csv" in done.stderr


@pytest.mark.parametrize(
    ("option", "column"),
    [("--id-column", "pid"), ("--label-column", "y"), ("--observed-at-column", "seen")],
)
def test_feedback_names_a_missing_column(
    project_root: Path, tmp_path: Path, option: str, column: str
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("prediction_id,label\np-0,1\n")
    done = run_cli("feedback", "--project", str(project_root), "--file", str(path), option, column)
    assert done.returncode == 1
    assert repr(column) in done.stderr
    assert option in done.stderr
