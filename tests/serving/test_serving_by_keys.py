"""Serving by entity keys: the real server fills a feature-service model's features from
the online store, and scores exactly the row the point-in-time training set holds for the
same entity and time."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import yaml

from headway.features.definitions import load_definitions
from headway.features.pit import historical_features
from headway.pipeline.run import run_pipeline
from headway.predictions import open_prediction_log
from headway.project import Project
from headway.registry import ModelRegistry
from tests.helpers import PROFILE, USAGE, make_feature_project, run_cli, serving

FEATURES = [*PROFILE, *USAGE, "charges_per_product"]  # the last one computed on demand


def _same(a: Any, b: Any) -> bool:
    missing = [v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA for v in (a, b)]
    if any(missing):
        return all(missing)
    if isinstance(a, int | float | np.number) and isinstance(b, int | float | np.number):
        return float(a) == float(b)
    return str(a) == str(b)


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_the_server_scores_the_training_row_of_the_same_entity_and_time(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    start = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%d")
    project = make_feature_project(tmp_path / "churn", start=start, days=50)
    if store == "redis":  # read off the event loop, across the network
        path = project.root / "headway.yaml"
        config = yaml.safe_load(path.read_text())
        config["features"]["online_store"] = request.getfixturevalue("redis_url")
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        project = Project.load(project.root)
    version = run_pipeline(project).version.version
    out = run_cli("features", "materialize", "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stderr
    assert (project.state_dir / "online.db").exists() == (store == "sqlite")

    now = datetime.now(UTC)
    entities = pd.read_parquet(project.root / "entities.parquet")
    # Customers whose usage is within the view's 30-day TTL (older ones come back missing,
    # and the training schema refuses a missing support_tickets_90d).
    recent = entities[entities["event_timestamp"] > now - timedelta(days=29)]
    customers = recent["customer_id"].iloc[:60]
    offline = historical_features(
        pd.DataFrame({"customer_id": customers, "event_timestamp": now}),
        load_definitions(project.root / "features.yaml"),
        "churn_model",
        root=project.root,
    )
    assert len(offline) == 60 and offline["num_products"].notna().all()
    assert (offline["plan"] == "FUTURE").any()  # the latest profile, as of now

    with serving(project.root) as url:
        body = {"dataframe_split": {"columns": ["customer_id"], "data": [[c] for c in customers]}}
        reply = httpx.post(f"{url}/invocations", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        answer = reply.json()
        refused = httpx.post(
            f"{url}/invocations",
            json={"dataframe_split": {"columns": ["plan"], "data": [["basic"]]}},
            timeout=30,
        )
        keys = [
            {"name": "customer_id", "shape": [60], "datatype": "BYTES", "data": list(customers)}
        ]
        v2 = httpx.post(f"{url}/v2/models/churn/infer", json={"inputs": keys}, timeout=30)
        plan = [{"name": "plan", "shape": [1], "datatype": "BYTES", "data": ["basic"]}]
        v2_refused = httpx.post(f"{url}/v2/models/churn/infer", json={"inputs": plan}, timeout=30)
    assert refused.status_code == 400
    assert "entity key ['customer_id']" in refused.json()["message"]
    assert v2_refused.status_code == 400
    assert "entity key ['customer_id']" in v2_refused.json()["error"]
    assert v2.status_code == 200, v2.text
    v2_answer = v2.json()
    assert v2_answer["outputs"][0]["data"] == answer["predictions"]  # the same filled rows

    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        logged = log.get(answer["prediction_ids"]).set_index("prediction_id")
        v2_ids = v2_answer["parameters"]["prediction_ids"]
        v2_logged = log.get(v2_ids).set_index("prediction_id")
    for i, pid in enumerate(answer["prediction_ids"]):
        inputs = logged.loc[pid, "inputs"]
        for feature in FEATURES:
            assert _same(inputs.get(feature), offline[feature].iloc[i]), (feature, i)
    for i, pid in enumerate(v2_ids):
        inputs = v2_logged.loc[pid, "inputs"]
        for feature in FEATURES:
            assert _same(inputs.get(feature), offline[feature].iloc[i]), (feature, i)

    model = ModelRegistry(project.tracking_uri, project.registry_uri).load_estimator(
        f"models:/churn/{version}"
    )
    expected = model.predict(offline.drop(columns=["event_timestamp"]))
    assert [int(p) for p in answer["predictions"]] == [int(p) for p in expected]


def test_batch_scoring_by_keys_fills_features_as_the_server_does(tmp_path: Path) -> None:
    start = (datetime.now(UTC) - timedelta(days=40)).strftime("%Y-%m-%d")
    project = make_feature_project(tmp_path / "churn", start=start, days=30)
    version = run_pipeline(project).version.version
    assert run_cli("features", "materialize", "--project", str(project.root)).returncode == 0
    customers = pd.read_parquet(project.root / "entities.parquet")["customer_id"].iloc[-40:]
    keys = tmp_path / "keys.csv"
    pd.DataFrame({"customer_id": customers}).to_csv(keys, index=False)
    scored = tmp_path / "scored.parquet"
    out = run_cli(
        "predict", "--project", str(project.root), "--input", str(keys), "--output",
        str(scored), "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["files"] == [str(keys)]
    result = pd.read_parquet(scored)
    assert result["customer_id"].tolist() == customers.tolist()

    offline = historical_features(
        pd.DataFrame({"customer_id": customers, "event_timestamp": datetime.now(UTC)}),
        load_definitions(project.root / "features.yaml"),
        "churn_model",
        root=project.root,
    )
    model = ModelRegistry(project.tracking_uri, project.registry_uri).load_estimator(
        f"models:/churn/{version}"
    )
    expected = model.predict(offline.drop(columns=["event_timestamp"]))
    assert [int(p) for p in result["prediction"]] == [int(p) for p in expected]

    unkeyed = tmp_path / "no-keys.csv"
    pd.DataFrame({"plan": ["basic"]}).to_csv(unkeyed, index=False)
    refused = run_cli(
        "predict", "--project", str(project.root), "--input", str(unkeyed), "--output",
        str(tmp_path / "x.parquet"),
    )  # fmt: skip
    assert refused.returncode == 1
    assert "entity key ['customer_id']" in refused.stderr
    assert not (tmp_path / "x.parquet").exists()
