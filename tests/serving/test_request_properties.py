"""Property-based tests over request bodies: whatever a client sends, in any of the accepted
formats, the server answers 200 or a 4xx with a JSON error, never a 5xx."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headway import PipelineResult, Project
from headway.serving import ServingSettings, create_app
from headway.serving.model import ServedModel

Trained = tuple[Project, PipelineResult]

EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    database=None,  # every run starts afresh; the NASTY values cover the known failures
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Values a client might put anywhere: wrong types, nulls, huge and non-finite numbers (the
# bodies are written with the standard library, which writes Infinity and NaN literals),
# text that looks like a number, nested lists and objects.
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-5, max_value=100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e3, max_value=1e3),
    st.text(max_size=12),
    st.sampled_from(["inf", "-inf", "NaN", "1e400", "", " ", "true", "0", "3.5", "null"]),
)
# Values that once broke the server, drawn often so that every run tries them.
NASTY = st.sampled_from(
    ["inf", "-Infinity", "1e400", " nan ", True, False, [], {}, [1], 1e308, -1e308, 2**64, ""]
)
ANY_VALUE = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def client(trained: Trained, served: ServedModel) -> TestClient:
    settings_ = ServingSettings(model_uri=served.uri, tracking_uri=trained[0].tracking_uri)
    return TestClient(create_app(settings_, model=served))


@pytest.fixture(scope="module")
def table(trained: Trained) -> pd.DataFrame:
    project, _ = trained
    assert project.data_path is not None
    return pd.read_csv(project.data_path).head(200).drop(columns=["churned"])


@st.composite
def rows(draw: st.DrawFn, table: pd.DataFrame) -> list[dict[str, Any]]:
    """Real rows with a few values replaced by anything, now and then a column dropped or
    one added: most requests are nearly valid, so one bad value decides the answer."""
    columns = list(table.columns)
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        base = table.iloc[draw(st.integers(0, len(table) - 1))]
        row = {
            c: None if pd.isna(v) else getattr(v, "item", lambda v=v: v)() for c, v in base.items()
        }
        for column in draw(st.lists(st.sampled_from(columns), max_size=2)):
            row[column] = draw(st.one_of(NASTY, ANY_VALUE))
        if draw(st.integers(0, 9)) == 0:
            row.pop(draw(st.sampled_from(columns)))
        if draw(st.integers(0, 9)) == 0:
            row[draw(st.text(max_size=6))] = draw(ANY_VALUE)
        out.append(row)
    return out


def check(response: Any, n_rows: int | None = None) -> None:
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text
    doc = response.json()
    if response.status_code == 200:
        assert len(doc["predictions"]) == len(doc["prediction_ids"])
        if n_rows is not None:
            assert len(doc["predictions"]) == n_rows
    else:
        assert isinstance(doc["error_code"], str) and isinstance(doc["message"], str)
        assert doc["message"] and len(doc["message"]) < 2000


def post_json(client: TestClient, body: object) -> Any:
    content = json.dumps(body, allow_nan=True)
    return client.post(
        "/invocations", content=content, headers={"Content-Type": "application/json"}
    )


@EXAMPLES
@given(data=st.data())
def test_dataframe_split(client: TestClient, table: pd.DataFrame, data: st.DataObject) -> None:
    recs = data.draw(rows(table))
    columns = sorted({c for r in recs for c in r}) or list(table.columns)
    if data.draw(st.booleans()):
        payload: Any = {
            "columns": columns,
            "data": [[r.get(c) for c in columns] for r in recs],
        }
    else:
        payload = data.draw(
            st.fixed_dictionaries(
                {"columns": st.one_of(st.just(columns), ANY_VALUE), "data": ANY_VALUE}
            )
        )
    check(post_json(client, {"dataframe_split": payload}))


@pytest.mark.parametrize("key", ["dataframe_records", "instances"])
@EXAMPLES
@given(data=st.data())
def test_records(client: TestClient, table: pd.DataFrame, key: str, data: st.DataObject) -> None:
    recs = data.draw(st.one_of(rows(table), ANY_VALUE))
    check(post_json(client, {key: recs}))


@EXAMPLES
@given(data=st.data())
def test_inputs(client: TestClient, table: pd.DataFrame, data: st.DataObject) -> None:
    recs = data.draw(rows(table))
    if data.draw(st.booleans()):
        columns = sorted({c for r in recs for c in r})
        payload: Any = {c: [r.get(c) for r in recs] for c in columns}
        if payload and data.draw(st.booleans()):
            payload[data.draw(st.sampled_from(columns))] = data.draw(ANY_VALUE)
    else:
        payload = recs
    check(post_json(client, {"inputs": payload}))


@EXAMPLES
@given(data=st.data())
def test_csv(client: TestClient, table: pd.DataFrame, data: st.DataObject) -> None:
    if data.draw(st.integers(0, 4)) == 0:
        text = data.draw(st.text(max_size=200))
    else:
        recs = data.draw(rows(table))
        columns = sorted({c for r in recs for c in r}) or list(table.columns)
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(columns)
        for r in recs:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        text = out.getvalue()
    response = client.post(
        "/invocations",
        content=text.encode(),
        headers={"Content-Type": "text/csv"},
    )
    check(response)


@EXAMPLES
@given(body=ANY_VALUE)
def test_any_json_document(client: TestClient, body: Any) -> None:
    check(post_json(client, body))
