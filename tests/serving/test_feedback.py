"""``POST /feedback``: labels for predictions the server logged, stored in the prediction log;
unknown ids and malformed items reported, the good items stored anyway."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from headway import PipelineResult, Project
from headway.predictions import open_prediction_log
from headway.serving import ServingSettings, create_app
from headway.serving.model import ServedModel

Trained = tuple[Project, PipelineResult]


def _records(project: Project, n: int) -> list[dict[str, object]]:
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path).head(n).drop(columns=["churned"])
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def _predict(server: str, project: Project, n: int) -> list[str]:
    response = httpx.post(
        f"{server}/invocations", json={"dataframe_records": _records(project, n)}, timeout=30
    )
    assert response.status_code == 200, response.text
    ids: list[str] = response.json()["prediction_ids"]
    assert len(ids) == n
    return ids


def _labels(project: Project) -> pd.DataFrame:
    with open_prediction_log(None, project.predictions_dir) as log:
        return log.feedback().set_index("prediction_id")


def test_labels_of_logged_predictions_are_stored(server: str, trained: Trained) -> None:
    project, _ = trained
    ids = _predict(server, project, 3)
    body = [
        {"prediction_id": ids[0], "label": 1, "observed_at": "2025-01-31T12:00:00+02:00"},
        {"prediction_id": ids[1], "label": 0, "observed_at": "2025-02-01T08:30:00"},  # UTC
        {"prediction_id": ids[2], "label": "yes"},
    ]
    response = httpx.post(f"{server}/feedback", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 3, "unknown_ids": [], "errors": []}

    labels = _labels(project)
    assert labels.loc[ids[0], "label"] == 1
    assert labels.loc[ids[0], "observed_at"] == pd.Timestamp("2025-01-31T10:00:00Z")
    assert labels.loc[ids[1], "label"] == 0
    assert labels.loc[ids[1], "observed_at"] == pd.Timestamp("2025-02-01T08:30:00Z")
    assert labels.loc[ids[2], "label"] == "yes"
    assert pd.isna(labels.loc[ids[2], "observed_at"])


def test_one_object_is_one_label(server: str, trained: Trained) -> None:
    project, _ = trained
    (pid,) = _predict(server, project, 1)
    response = httpx.post(f"{server}/feedback", json={"prediction_id": pid, "label": True})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    assert bool(_labels(project).loc[pid, "label"]) is True


def test_unknown_ids_are_reported_and_not_stored(server: str, trained: Trained) -> None:
    project, _ = trained
    (pid,) = _predict(server, project, 1)
    body = [
        {"prediction_id": "never-logged-1", "label": 1},
        {"prediction_id": pid, "label": 0},
        {"prediction_id": "never-logged-2", "label": 0},
    ]
    response = httpx.post(f"{server}/feedback", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "accepted": 1,
        "unknown_ids": ["never-logged-1", "never-logged-2"],
        "errors": [],
    }
    labels = _labels(project)
    assert pid in labels.index
    assert "never-logged-1" not in labels.index and "never-logged-2" not in labels.index


def test_only_unknown_ids_is_200_with_nothing_accepted(server: str) -> None:
    response = httpx.post(f"{server}/feedback", json=[{"prediction_id": "nope", "label": 1}])
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "unknown_ids": ["nope"], "errors": []}


def test_bad_items_are_reported_and_good_ones_stored(server: str, trained: Trained) -> None:
    project, _ = trained
    good, bad_label, bad_time = _predict(server, project, 3)
    body: list[object] = [
        {"prediction_id": bad_label, "label": [1, 0]},
        {"prediction_id": good, "label": 1, "observed_at": "2025-03-01"},
        {"prediction_id": bad_time, "label": 1, "observed_at": "last tuesday"},
        {"prediction_id": bad_time, "label": {"value": 1}},
        "not an item",
        {"label": 1},
        {"prediction_id": good, "label": 1, "observed": "2025-03-01"},
        {"prediction_id": good},
    ]
    response = httpx.post(f"{server}/feedback", json=body)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["accepted"] == 1
    assert doc["unknown_ids"] == []
    where = [(e["index"], e["field"]) for e in doc["errors"]]
    assert where == [
        (0, "label"),
        (2, "observed_at"),
        (3, "label"),
        (4, None),
        (5, "prediction_id"),
        (6, "observed"),
        (7, "label"),
    ]
    assert all(e["message"] for e in doc["errors"])
    assert "JSON scalar" in doc["errors"][0]["message"]
    assert "ISO 8601" in doc["errors"][1]["message"]
    labels = _labels(project)
    assert labels.loc[good, "observed_at"] == pd.Timestamp("2025-03-01T00:00:00Z")
    assert bad_label not in labels.index and bad_time not in labels.index


def test_nothing_stored_and_every_item_bad_is_422(server: str) -> None:
    response = httpx.post(
        f"{server}/feedback",
        json=[{"prediction_id": "x", "label": []}, {"prediction_id": "", "label": 1}],
    )
    assert response.status_code == 422
    doc = response.json()
    assert doc["accepted"] == 0
    assert [(e["index"], e["field"]) for e in doc["errors"]] == [(0, "label"), (1, "prediction_id")]


@pytest.mark.parametrize("body", [b"{not json", b"", b"42", b'"text"', b"[]", b"null"], ids=repr)
def test_malformed_bodies_are_400(server: str, body: bytes) -> None:
    response = httpx.post(
        f"{server}/feedback", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "BAD_REQUEST"


def test_the_latest_label_counts(server: str, trained: Trained) -> None:
    project, _ = trained
    (pid,) = _predict(server, project, 1)
    first = {"prediction_id": pid, "label": 0, "observed_at": "2025-01-01T00:00:00Z"}
    later = {"prediction_id": pid, "label": 1, "observed_at": "2025-01-02T00:00:00Z"}
    assert httpx.post(f"{server}/feedback", json=[later]).status_code == 200
    assert httpx.post(f"{server}/feedback", json=[first]).status_code == 200
    assert _labels(project).loc[pid, "label"] == 1


def test_feedback_is_counted_in_metrics(server: str) -> None:
    httpx.post(f"{server}/feedback", json=[{"prediction_id": "counted", "label": 1}])
    text = httpx.get(f"{server}/metrics").text
    assert 'headway_requests_total{endpoint="/feedback",status="200"}' in text


def test_a_server_without_a_prediction_log_answers_503(
    trained: Trained, served: ServedModel
) -> None:
    project, _ = trained
    settings = ServingSettings(model_uri=served.uri, tracking_uri=project.tracking_uri)
    client = TestClient(create_app(settings, model=served))
    response = client.post("/feedback", json=[{"prediction_id": "abc", "label": 1}])
    assert response.status_code == 503
    doc = response.json()
    assert doc["error_code"] == "PREDICTION_LOG_UNAVAILABLE"
    assert "prediction log" in doc["message"]


def test_feedback_in_process_with_a_log(
    trained: Trained, served: ServedModel, tmp_path: Path
) -> None:
    """The same route over an app built in process, with a log of its own."""
    project, _ = trained
    settings = ServingSettings(model_uri=served.uri, tracking_uri=project.tracking_uri)
    log = open_prediction_log(None, tmp_path)
    with TestClient(create_app(settings, model=served, log=log)) as client:
        response = client.post("/invocations", json={"instances": _records(project, 2)})
        assert response.status_code == 200, response.text
        ids = response.json()["prediction_ids"]
        when = datetime(2025, 5, 1, tzinfo=UTC).isoformat()
        items = [{"prediction_id": i, "label": 1, "observed_at": when} for i in ids]
        answer = client.post("/feedback", json=items)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] == 2
    with open_prediction_log(None, tmp_path) as reopened:  # the app closed its log
        assert set(reopened.feedback()["prediction_id"]) == set(ids)
