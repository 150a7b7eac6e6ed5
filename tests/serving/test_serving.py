"""The real ``headway serve`` process, called over HTTP on 127.0.0.1."""

from __future__ import annotations

import httpx
import pandas as pd
import pytest

from headway import PipelineResult, Project
from headway.features import feature_frame

Trained = tuple[Project, PipelineResult]


@pytest.fixture(scope="module")
def rows(trained: Trained) -> pd.DataFrame:
    project, _ = trained
    return pd.read_csv(project.data_path).tail(5).drop(columns=["churned"])


def records(frame: pd.DataFrame) -> list[dict[str, object]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


def test_health_and_version(server: str, trained: Trained) -> None:
    _, result = trained
    assert httpx.get(f"{server}/health/live").json() == {"status": "alive"}
    ready = httpx.get(f"{server}/health/ready").json()
    assert ready["status"] == "ready"
    assert ready["model"]["name"] == "churn"
    assert ready["model"]["version"] == result.version.version
    assert httpx.get(f"{server}/ping").status_code == 200
    assert httpx.get(f"{server}/version").json()["headway"]


@pytest.mark.parametrize("fmt", ["dataframe_split", "dataframe_records", "instances", "inputs"])
def test_every_mlflow_json_format(
    server: str, rows: pd.DataFrame, trained: Trained, fmt: str
) -> None:
    _, result = trained
    recs = records(rows)
    body = {
        "dataframe_split": {
            "columns": list(rows.columns),
            "data": [list(r.values()) for r in recs],
        },
        "dataframe_records": recs,
        "instances": recs,
        "inputs": {c: [r[c] for r in recs] for c in rows.columns},
    }[fmt]
    response = httpx.post(f"{server}/invocations", json={fmt: body})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert len(doc["predictions"]) == 5 and set(doc["predictions"]) <= {0, 1}
    assert all(0.0 <= p <= 1.0 for p in doc["probabilities"])
    assert len(set(doc["prediction_ids"])) == 5
    # Same answer as the model in memory, with its decision threshold.
    features = feature_frame(rows, result.model)
    expected = result.model.estimator.predict_proba(features)[:, 1]
    assert doc["probabilities"] == pytest.approx(expected.tolist(), abs=2e-6)
    assert doc["predictions"] == result.model.estimator.predict(features).tolist()
    threshold = result.model.threshold
    assert doc["predictions"] == [int(p >= threshold) for p in expected]


def test_csv_body_and_ints_for_floats(server: str, rows: pd.DataFrame) -> None:
    response = httpx.post(
        f"{server}/invocations",
        content=rows.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 5
    recs = records(rows)
    recs[0]["age"] = 40  # an int where the table had floats
    recs[0]["region"] = "atlantis"  # a category never seen in training
    recs[0]["total_charges"] = None
    assert httpx.post(f"{server}/invocations", json={"dataframe_records": recs}).status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type", "expected"),
    [
        (b"", "application/json", "the request body is empty"),
        (b"{not json", "application/json", "not valid JSON"),
        (b'{"rows": []}', "application/json", "exactly one of the keys"),
        (b'{"dataframe_records": [1, 2]}', "application/json", "'dataframe_records'[0] is a int"),
        (
            b'{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}',
            "application/json",
            "has 2 values but there are 1 columns",
        ),
        (b"a,b\n1,2\n", "application/xml", "unsupported Content-Type"),
        (
            b'{"dataframe_split": {"columns": ["a", "a"], "data": [[1, 2]]}}',
            "application/json",
            "'dataframe_split.columns' repeats ['a']",
        ),
    ],
)
def test_malformed_requests_get_400(
    server: str, content: bytes, content_type: str, expected: str
) -> None:
    response = httpx.post(
        f"{server}/invocations", content=content, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    doc = response.json()
    assert doc["error_code"] == "BAD_REQUEST"
    assert expected in doc["message"]


def test_missing_column_and_text_in_number_are_named(server: str, rows: pd.DataFrame) -> None:
    recs = records(rows.drop(columns=["tenure_months", "plan"]))
    response = httpx.post(f"{server}/invocations", json={"dataframe_records": recs})
    assert response.status_code == 400
    assert "missing input column(s): ['plan', 'tenure_months']" in response.json()["message"]
    recs = records(rows)
    recs[2]["monthly_charges"] = "expensive"
    response = httpx.post(f"{server}/invocations", json={"dataframe_records": recs})
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "column 'monthly_charges' must be numeric; row 2 has 'expensive'"
    )


def test_errors_do_not_echo_the_payload(server: str, rows: pd.DataFrame) -> None:
    secret = "SECRET-PAYLOAD-" + "x" * 5000
    recs = records(rows)
    for rec in recs:
        rec.pop("plan")
        rec["note"] = secret
    response = httpx.post(f"{server}/invocations", json={"dataframe_records": recs})
    assert response.status_code == 400
    assert "SECRET-PAYLOAD" not in response.text
    assert len(response.text) < 1000


def test_prometheus_metrics_count_requests(
    server: str, rows: pd.DataFrame, trained: Trained
) -> None:
    _, result = trained
    httpx.post(f"{server}/invocations", json={"dataframe_records": records(rows)})
    httpx.post(
        f"{server}/invocations", content=b"{bad", headers={"Content-Type": "application/json"}
    )
    text = httpx.get(f"{server}/metrics").text
    assert 'headway_requests_total{endpoint="/invocations",status="200"}' in text
    assert 'headway_requests_total{endpoint="/invocations",status="400"}' in text
    assert "headway_request_latency_seconds_bucket" in text
    line = next(ln for ln in text.splitlines() if ln.startswith("headway_predictions_total{"))
    assert f'version="{result.version.version}"' in line and float(line.split()[-1]) >= 5
    assert 'headway_model_info{model="churn"' in text


def test_training_schema_is_enforced(server: str, rows: pd.DataFrame) -> None:
    recs = records(rows)
    recs[1]["tenure_months"] = None  # never null in training: schema says nullable: false
    response = httpx.post(f"{server}/invocations", json={"dataframe_records": recs})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "column 'tenure_months' is null in row 1; the training schema says it is never null"
    )
    recs = records(rows)
    recs[3]["plan"] = "platinum"  # unseen category: a warning by default, still predicted
    response = httpx.post(f"{server}/invocations", json={"dataframe_records": recs})
    assert response.status_code == 200
    assert response.json()["warnings"] == [{"column": "plan", "check": "categories", "rows": [3]}]
    text = httpx.get(f"{server}/metrics").text
    assert 'headway_schema_violations_total{check="categories",column="plan"} 1.0' in text


def test_explanations_on_request(server: str, rows: pd.DataFrame, trained: Trained) -> None:
    _, result = trained
    recs = records(rows.head(3))
    plain = httpx.post(f"{server}/invocations", json={"dataframe_records": recs}).json()
    assert "explanations" not in plain
    response = httpx.post(f"{server}/invocations?explain=3", json={"dataframe_records": recs})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["predictions"] == plain["predictions"]
    explanations = doc["explanations"]
    assert len(explanations) == 3
    features = set(result.model.feature_columns)
    for row in explanations:
        assert len(row) == 3 and set(row) <= features
        sizes = [abs(v) for v in row.values()]
        assert sizes == sorted(sizes, reverse=True)  # largest contributions first
    default = httpx.post(f"{server}/invocations?explain=true", json={"dataframe_records": recs})
    assert all(len(row) == 5 for row in default.json()["explanations"])
    bad = httpx.post(f"{server}/invocations?explain=lots", json={"dataframe_records": recs})
    assert bad.status_code == 400 and "explain='lots'" in bad.json()["message"]
