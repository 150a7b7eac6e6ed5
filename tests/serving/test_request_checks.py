"""What the server does with bad or unusual requests: always an answer the caller can act on
(200, or a 4xx naming the problem), never a 500. The app runs in process; the body-size
limit is also checked on the real ``headway serve`` process."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import socket
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from headway import PipelineResult, Project
from headway.features import coerce_features
from headway.serving import ServingSettings, create_app
from headway.serving.model import ServedModel
from tests.serving.conftest import load_served

Trained = tuple[Project, PipelineResult]


AppFactory = Callable[..., TestClient]


def client_for(
    model: ServedModel, tracking_uri: str, *, max_body_bytes: int = 16 * 1024 * 1024, **checks: str
) -> TestClient:
    """An in-process app serving ``model``, its schema's check severities replaced by
    ``checks`` (as if schema.yaml had said so when the model was trained)."""
    assert model.schema is not None
    rules = model.schema.checks.model_copy(update=checks)
    schema = model.schema.model_copy(update={"checks": rules})
    settings = ServingSettings(
        model_uri=model.uri, tracking_uri=tracking_uri, max_body_bytes=max_body_bytes
    )
    return TestClient(create_app(settings, model=dataclasses.replace(model, schema=schema)))


@pytest.fixture(scope="module")
def churn_app(trained: Trained, served: ServedModel) -> AppFactory:
    """``churn_app(ranges="error", ...)``: the session's churn model under those severities."""
    return functools.partial(client_for, served, trained[0].tracking_uri)


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


@pytest.fixture(scope="module")
def rows(trained: Trained) -> pd.DataFrame:
    project, _ = trained
    assert project.data_path is not None
    return pd.read_csv(project.data_path).tail(5).drop(columns=["churned"])


@pytest.fixture(scope="module")
def client(churn_app: AppFactory) -> TestClient:
    return churn_app()


def assert_bad_request(response: Any, *fragments: str) -> str:
    assert response.status_code == 400, response.text
    doc = response.json()
    assert doc["error_code"] == "BAD_REQUEST"
    for fragment in fragments:
        assert fragment in doc["message"], doc["message"]
    return str(doc["message"])


# Booleans -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boolean_model(boolean_trained: Trained) -> ServedModel:
    model = load_served(*boolean_trained)
    assert model.schema is not None
    column = model.schema.columns["has_discount"]
    assert (column.dtype, column.categories) == ("bool", ["False", "True"])
    assert "has_discount" in model.types.numeric
    return model


@pytest.fixture(scope="module")
def boolean_app(boolean_trained: Trained, boolean_model: ServedModel) -> AppFactory:
    """``boolean_app(categories="map", ...)``, or ``boolean_app(model=...)`` for a variant."""

    def make(model: ServedModel = boolean_model, **settings: Any) -> TestClient:
        return client_for(model, boolean_trained[0].tracking_uri, **settings)

    return make


@pytest.fixture(scope="module")
def boolean_rows(boolean_trained: Trained) -> pd.DataFrame:
    project, _ = boolean_trained
    assert project.data_path is not None
    table = pd.read_csv(project.data_path).drop(columns=["churned"])
    # Complete rows, some with a discount and some without.
    return pd.concat([table[table.has_discount].head(3), table[~table.has_discount].head(3)])


SPELLINGS: dict[str, tuple[object, object]] = {
    "json": (True, False),
    "text": ("true", "false"),
    "capitalised": ("True", "FALSE"),
    "numbers": (1, 0),
    "floats": (1.0, 0.0),
    "digits": ("1", "0"),
}


@pytest.mark.parametrize("policy", ["error", "warn", "map", "off"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_boolean_features_pass_the_category_check(
    boolean_app: AppFactory,
    boolean_model: ServedModel,
    boolean_rows: pd.DataFrame,
    policy: str,
    spelling: str,
) -> None:
    client = boolean_app(categories=policy)
    yes, no = SPELLINGS[spelling]
    recs = records(boolean_rows)
    for rec in recs:
        rec["has_discount"] = yes if rec["has_discount"] else no
    response = client.post("/invocations", json={"dataframe_records": recs})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert "warnings" not in doc
    # The model in memory, given the booleans as training gave them, says the same.
    features = coerce_features(boolean_rows, boolean_model.types)
    expected = boolean_model.estimator.predict_proba(features[list(boolean_model.types.columns)])
    assert doc["probabilities"] == pytest.approx(expected[:, 1].tolist(), abs=2e-6)


def test_boolean_feature_in_csv(boolean_app: AppFactory, boolean_rows: pd.DataFrame) -> None:
    client = boolean_app(categories="error")
    response = client.post(
        "/invocations",
        content=boolean_rows.to_csv(index=False),
        headers={"Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert "warnings" not in response.json()


@pytest.mark.parametrize("value", ["maybe", 2, 0.5, -1])
def test_a_boolean_feature_that_is_not_one_follows_the_types_policy(
    boolean_app: AppFactory, boolean_rows: pd.DataFrame, value: object
) -> None:
    recs = records(boolean_rows)
    recs[4]["has_discount"] = value
    body = {"dataframe_records": recs}
    response = boolean_app(types="error").post("/invocations", json=body)
    assert_bad_request(response, "'has_discount'", "row 4", "true/false")
    # Under warn and off the value counts as missing, as in training; this column is never
    # null in training, so the null rule is turned off to see the types rule alone.
    warned = boolean_app(types="warn", nulls="off").post("/invocations", json=body)
    assert warned.status_code == 200, warned.text
    assert warned.json()["warnings"] == [{"column": "has_discount", "check": "types", "rows": [4]}]
    quiet = boolean_app(types="off", nulls="off").post("/invocations", json=body)
    assert quiet.status_code == 200, quiet.text
    assert "warnings" not in quiet.json()


@pytest.mark.parametrize("policy", ["error", "warn", "map", "off"])
def test_an_unseen_boolean_value_follows_the_categories_policy(
    boolean_app: AppFactory, boolean_model: ServedModel, boolean_rows: pd.DataFrame, policy: str
) -> None:
    assert boolean_model.schema is not None
    schema = boolean_model.schema.model_copy(deep=True)
    schema.columns["has_discount"].categories = ["False"]  # never true in training
    model = dataclasses.replace(boolean_model, schema=schema)
    recs = records(boolean_rows)  # rows 0-2 have a discount
    response = boolean_app(model, categories=policy).post(
        "/invocations", json={"dataframe_records": recs}
    )
    if policy == "error":
        assert_bad_request(response, "'has_discount'", "row 0", "not seen in training")
        return
    assert response.status_code == 200, response.text
    warnings = response.json().get("warnings")
    if policy == "off":
        assert warnings is None
    else:
        assert warnings == [{"column": "has_discount", "check": "categories", "rows": [0, 1, 2]}]


# Numbers that are not finite --------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e400", "-1E999", "nan"])
def test_non_finite_numbers_are_a_400_naming_column_and_row(
    client: TestClient, rows: pd.DataFrame, value: str
) -> None:
    recs = records(rows)
    recs[3]["monthly_charges"] = value
    response = client.post("/invocations", json={"dataframe_records": recs})
    assert_bad_request(response, "'monthly_charges'", "row 3")


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e400"])
def test_non_finite_json_literals_are_a_400(
    client: TestClient, rows: pd.DataFrame, literal: str
) -> None:
    recs = records(rows)
    recs[0]["age"] = "PLACEHOLDER"
    body = json.dumps({"dataframe_records": recs}).replace('"PLACEHOLDER"', literal)
    response = client.post(
        "/invocations", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text


def test_non_finite_numbers_in_csv_are_a_400(client: TestClient, rows: pd.DataFrame) -> None:
    for value in ("inf", "1e400", "-inf"):
        frame = rows.copy()
        frame["total_charges"] = frame["total_charges"].astype(object)
        frame.iloc[2, frame.columns.get_loc("total_charges")] = value
        response = client.post(
            "/invocations",
            content=frame.to_csv(index=False),
            headers={"Content-Type": "text/csv"},
        )
        message = assert_bad_request(response, "'total_charges'", "row 2")
        assert "finite" in message


# Empty inputs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"inputs": {"a": []}}, "'inputs' has no rows"),
        ({"inputs": {"region": [], "plan": []}}, "'inputs' has no rows"),
        ({"inputs": [{}]}, "'inputs' has no columns"),
        ({"dataframe_split": {"columns": [], "data": [[]]}}, "'dataframe_split' has no columns"),
        ({"dataframe_records": [{}, {}]}, "'dataframe_records' has no columns"),
        ({"instances": [{}]}, "'instances' has no columns"),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
    ],
)
def test_empty_inputs_are_a_400(client: TestClient, body: dict[str, Any], expected: str) -> None:
    assert_bad_request(client.post("/invocations", json=body), expected)


def test_every_feature_column_with_no_rows_is_a_400(
    client: TestClient, served: ServedModel
) -> None:
    response = client.post("/invocations", json={"inputs": {c: [] for c in served.types.columns}})
    assert_bad_request(response, "no rows")


def test_inputs_columns_of_unequal_length_are_a_400(client: TestClient) -> None:
    response = client.post("/invocations", json={"inputs": {"a": [1], "b": [1, 2]}})
    assert_bad_request(response, "different lengths")


# Body size --------------------------------------------------------------------------------


def post_raw(
    app: Any, headers: dict[str, str], count: int, size: int
) -> tuple[int, dict[str, Any], int]:
    """POST ``count`` chunks of ``size`` bytes to ``app`` at the ASGI level, as a server
    passes a body on; returns the status, the JSON answer and how many bytes were read."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read >= count * size:
            return {"type": "http.request", "body": b"", "more_body": False}
        read += size
        return {"type": "http.request", "body": b" " * size, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    asyncio.run(app(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), read


def test_body_over_the_limit_by_content_length_is_refused_unread(churn_app: AppFactory) -> None:
    app = churn_app(max_body_bytes=1000).app
    status, doc, read = post_raw(
        app, {"Content-Type": "application/json", "Content-Length": "5000"}, 50, 100
    )
    assert status == 413
    assert doc["error_code"] == "PAYLOAD_TOO_LARGE"
    assert "5000 bytes" in doc["message"] and "1000" in doc["message"]
    assert read == 0


def test_streamed_body_over_the_limit_is_refused_at_the_limit(churn_app: AppFactory) -> None:
    client = churn_app(max_body_bytes=1000)
    status, doc, read = post_raw(client.app, {"Content-Type": "text/csv"}, 50, 100)
    assert status == 413
    assert doc["error_code"] == "PAYLOAD_TOO_LARGE"
    assert read <= 1100  # stopped at the chunk that crossed the limit, not at 5000
    metrics = client.get("/metrics").text
    assert 'headway_requests_total{endpoint="/invocations",status="413"} 1.0' in metrics


def test_body_at_the_limit_is_read(churn_app: AppFactory, rows: pd.DataFrame) -> None:
    body = rows.to_csv(index=False).encode()
    client = churn_app(max_body_bytes=len(body))
    response = client.post("/invocations", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text


def test_real_server_refuses_a_large_content_length_before_the_body(server: str) -> None:
    parts = urlsplit(server)
    assert parts.hostname is not None and parts.port is not None
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


# Ranges and types follow the schema's policy ------------------------------------------------


def tenure_range(model: ServedModel) -> tuple[float, float]:
    assert model.schema is not None
    column = model.schema.columns["tenure_months"]
    assert column.dtype == "int" and column.min is not None and column.max is not None
    return column.min, column.max


def test_out_of_range_value_under_error_is_a_400(
    churn_app: AppFactory, served: ServedModel, rows: pd.DataFrame
) -> None:
    low, high = tenure_range(served)
    recs = records(rows)
    recs[2]["tenure_months"] = high + 100
    response = churn_app(ranges="error").post("/invocations", json={"dataframe_records": recs})
    assert_bad_request(
        response, "'tenure_months'", "row 2", f"{high + 100:g}", f"[{low:g}, {high:g}]"
    )


def test_out_of_range_value_under_warn_is_predicted_with_a_warning(
    churn_app: AppFactory, served: ServedModel, rows: pd.DataFrame
) -> None:
    low, _ = tenure_range(served)
    recs = records(rows)
    recs[1]["tenure_months"] = low - 5
    recs[4]["tenure_months"] = low - 1
    client = churn_app(ranges="warn")
    response = client.post("/invocations", json={"dataframe_records": recs})
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == [
        {"column": "tenure_months", "check": "ranges", "rows": [1, 4]}
    ]
    metrics = client.get("/metrics").text
    assert 'headway_schema_violations_total{check="ranges",column="tenure_months"} 1.0' in metrics


def test_out_of_range_value_under_off_is_predicted_quietly(
    churn_app: AppFactory, served: ServedModel, rows: pd.DataFrame
) -> None:
    _, high = tenure_range(served)
    recs = records(rows)
    recs[0]["tenure_months"] = high * 10
    response = churn_app(ranges="off").post("/invocations", json={"dataframe_records": recs})
    assert response.status_code == 200, response.text
    assert "warnings" not in response.json()


@pytest.mark.parametrize(("value", "fragment"), [("many", "numeric"), (2.5, "whole numbers")])
def test_wrong_type_follows_the_types_policy(
    churn_app: AppFactory, rows: pd.DataFrame, value: object, fragment: str
) -> None:
    recs = records(rows)
    recs[3]["tenure_months"] = value
    body = {"dataframe_records": recs}
    response = churn_app(types="error").post("/invocations", json=body)
    assert_bad_request(response, "'tenure_months'", "row 3", fragment)
    warned = churn_app(types="warn", nulls="off").post("/invocations", json=body)
    assert warned.status_code == 200, warned.text
    assert warned.json()["warnings"] == [{"column": "tenure_months", "check": "types", "rows": [3]}]
    quiet = churn_app(types="off", nulls="off").post("/invocations", json=body)
    assert quiet.status_code == 200, quiet.text
    assert "warnings" not in quiet.json()


def test_text_in_a_number_column_is_missing_under_warn(
    churn_app: AppFactory, rows: pd.DataFrame
) -> None:
    """Under ``warn`` text is treated as missing, as training does; a column that is never
    null in training then also breaks the null rule."""
    recs = records(rows)
    recs[3]["tenure_months"] = "many"
    response = churn_app(types="warn", nulls="error").post(
        "/invocations", json={"dataframe_records": recs}
    )
    assert_bad_request(response, "'tenure_months' is null in row 3")


# Missing columns ----------------------------------------------------------------------------


def test_missing_column_error_names_only_the_missing_ones(
    client: TestClient, rows: pd.DataFrame, served: ServedModel
) -> None:
    recs = records(rows.drop(columns=["plan"]))
    message = assert_bad_request(
        client.post("/invocations", json={"dataframe_records": recs}),
        "missing input column(s): ['plan']",
    )
    assert "region" not in message and "tenure_months" not in message
    assert f"{len(served.types.columns)} feature columns" in message


def test_non_finite_value_is_not_echoed(client: TestClient, rows: pd.DataFrame) -> None:
    recs = records(rows)
    recs[0]["age"] = "inf" + " " * 10_000
    response = client.post("/invocations", json={"dataframe_records": recs})
    assert response.status_code == 400
    assert len(response.text) < 500
