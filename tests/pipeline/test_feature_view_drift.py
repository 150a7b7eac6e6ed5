"""``headway monitor`` on a model trained on a feature service reports drift per view."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from headway.controlplane import MonitoringStore
from headway.datasets.churn import make_churn
from headway.features.definitions import load_definitions
from headway.pipeline.monitor import monitor_project
from headway.pipeline.run import run_pipeline
from headway.predictions import PredictionRecord, new_ids, open_prediction_log
from tests.helpers import PROFILE, USAGE, make_feature_project


def test_drift_is_reported_per_feature_view(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    version = run_pipeline(project).version.version
    rows = make_churn(600, seed=9)
    # The usage features move (more tickets, longer absences, more products); profile stays.
    rows["support_tickets_90d"] = rows["support_tickets_90d"] + 6
    rows["days_since_last_login"] = rows["days_since_last_login"] * 4 + 30
    rows["num_products"] = 5
    rows["charges_per_product"] = rows["monthly_charges"] / rows["num_products"]
    ids = new_ids(len(rows))
    now = datetime.now(UTC)
    columns = [*PROFILE, *USAGE, "charges_per_product"]
    records = [
        PredictionRecord(
            prediction_id=ids[i],
            timestamp=now,
            model_name="churn",
            model_version=version,
            route="champion",
            inputs={
                c: (None if isinstance(v, float) and np.isnan(v) else v)
                for c, v in rows[columns].iloc[i].to_dict().items()
            },
            outputs={"prediction": 0, "probability": 0.1},
            latency_ms=1.0,
        )
        for i in range(len(rows))
    ]
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        log.append(records)
    run = monitor_project(project)
    views = {v["view"]: v for v in run.windows[-1].feature_views}
    assert set(views) == {"profile", "usage", "on_demand"}
    assert views["usage"]["drifted"] and set(views["usage"]["drifted_columns"]) >= {
        "support_tickets_90d",
        "num_products",
    }
    assert not views["profile"]["drifted"]
    assert views["profile"]["tested"] == list(PROFILE)
    assert load_definitions(project.root / "features.yaml").view("usage").ttl == "30d"
    with MonitoringStore.for_project(project) as store:
        stored = store.latest("churn")
    assert stored is not None
    assert [v["view"] for v in stored.report["feature_views"]] == ["profile", "usage", "on_demand"]
    page = run.pages[-1].read_text(encoding="utf-8")
    assert "Drift by feature view" in page
