"""The champion is never scored on rows it trained on: a run records the identities of its
training rows, and a later gate leaves those rows out of the comparison and says how many."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from mlflow import MlflowClient

from headway import Project, run_pipeline
from headway.data.split import row_identity
from headway.registry import layout
from tests.helpers import make_project

FAST = {
    "budget": {"trials": 2, "timeout_seconds": 60},
    "model_families": ["linear"],
    "n_workers": 1,
}


def test_rows_the_champion_trained_on_are_left_out_of_the_comparison(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "churn",
        rows=2000,
        training=FAST,
        data={"timestamp_column": None},
        evaluation={"explain": False},
    )
    project = Project.load(root)
    first = run_pipeline(project)
    client = MlflowClient(tracking_uri=project.tracking_uri)
    recorded = pd.read_parquet(
        client.download_artifacts(first.run_id, layout.TRAINING_KEYS.path, str(tmp_path))
    )
    sizes = json.loads(
        Path(client.download_artifacts(first.run_id, layout.SPLIT.path, str(tmp_path))).read_text()
    )
    assert sizes["scheme"] == "stable" and sizes["strategy"] == "hash"
    assert len(recorded) == sizes["n_train"] + sizes["n_valid"]
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path)
    learned = set(recorded["key"].tolist())
    assert len(learned) == len(recorded) > 1000
    assert learned <= set(row_identity(frame, project.config.data).tolist())

    # Another seed moves the hash split: the new test set holds rows the champion learned.
    config = yaml.safe_load((root / "headway.yaml").read_text())
    config["seed"] = 7
    (root / "headway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    second = run_pipeline(Project.load(root))

    blessing = second.blessing
    n_test = second.evaluation.n_test
    assert blessing.champion_version == "1"
    assert blessing.dropped_rows > 0
    assert blessing.compared_rows == n_test - blessing.dropped_rows
    (check,) = [c for c in blessing.checks if c["name"] == "champion"]
    assert f"{blessing.dropped_rows:,} the champion trained on left out" in check["detail"]
