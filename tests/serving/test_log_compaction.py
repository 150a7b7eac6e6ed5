"""A running server compacts its embedded prediction log every
``predictions.compact_every``: closed segments become Parquet parts while it keeps
answering, and every answered prediction is read back exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from headway import Project, run_pipeline
from headway.config import load_config
from headway.exceptions import ConfigError
from headway.predictions import open_prediction_log
from tests.helpers import TINY_TRAINING, make_project, serving

# A bound on waiting for the first compaction (every second here); never asserted.
DEADLINE_S = 60.0


def _compactions(url: str, outcome: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "headway_log_compactions_total" and s.labels.get("outcome") == outcome
    )


def test_the_server_compacts_the_log_while_it_answers(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "churn",
        rows=800,
        training=TINY_TRAINING,
        evaluation={"explain": False},
        predictions={"compact_every": "1s"},
    )
    project = Project.load(root)
    assert run_pipeline(project).blessing.blessed
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path).dropna().head(4).drop(columns=["churned"])
    body = {
        "dataframe_split": {
            "columns": list(frame.columns),
            "data": frame.astype(object).to_numpy().tolist(),
        }
    }
    segments = project.predictions_dir / "segments"
    parts = project.predictions_dir / "parquet"
    ids: list[str] = []
    with serving(root) as url, httpx.Client(base_url=url, timeout=30) as client:
        deadline = time.monotonic() + DEADLINE_S
        # Answer until a compaction has turned answered rows into Parquet parts.
        while not list(parts.rglob("*.parquet")) and time.monotonic() < deadline:
            answer = client.post("/invocations", json=body)
            assert answer.status_code == 200, answer.text
            ids += answer.json()["prediction_ids"]
            time.sleep(0.1)
        compacted = list(parts.rglob("*.parquet"))
        answer = client.post("/invocations", json=body)  # answers go on after it
        assert answer.status_code == 200, answer.text
        ids += answer.json()["prediction_ids"]
        assert _compactions(url, "ok") >= 1
        assert _compactions(url, "failed") == 0
    assert compacted, "no Parquet part was written while the server ran"

    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        logged = log.get(ids)
    assert len(ids) == len(set(ids)) >= 8
    assert sorted(logged["prediction_id"]) == sorted(ids)  # each exactly once
    assert not list(segments.glob("*.jsonl"))  # the last ones compacted at shutdown


def test_compact_every_must_be_a_duration(tmp_path: Path) -> None:
    root = make_project(tmp_path / "churn", rows=200, predictions={"compact_every": "hourly"})
    with pytest.raises(
        ConfigError, match=r"predictions\.compact_every.*'hourly' is not a duration"
    ):
        load_config(root / "headway.yaml")
