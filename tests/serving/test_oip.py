"""The Open Inference Protocol (KServe V2) REST API of the real ``headway serve`` process:
tritonclient's HTTP client for health, metadata and inference, and httpx for the 2-D
tensor form, the outputs filter and malformed requests (always a 4xx naming the field)."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from headway import PipelineResult, Project
from headway.exceptions import InvalidRequestError
from headway.serving.model import ServedModel
from headway.serving.oip_parse import load_body

Trained = tuple[Project, PipelineResult]


@pytest.fixture(scope="module")
def rows(trained: Trained, served: ServedModel) -> pd.DataFrame:
    """Five rows of the training table (no missing category), one number missing."""
    project, _ = trained
    assert project.data_path is not None
    table = pd.read_csv(project.data_path)
    table = table.dropna(subset=list(served.types.categorical)).tail(5).reset_index(drop=True)
    table.loc[1, "total_charges"] = np.nan
    return table[list(served.types.columns)]


@pytest.fixture(scope="module")
def client(server: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server.removeprefix("http://"))


@pytest.fixture(scope="module")
def expected(served: ServedModel, rows: pd.DataFrame) -> tuple[list[Any], list[float]]:
    """Labels and positive-class probabilities of the in-memory model for ``rows``."""
    features, _ = served.prepare(rows)
    labels = served.estimator.predict(features).tolist()
    proba = served.estimator.predict_proba(features)[:, 1].tolist()
    return labels, proba


def datatype(series: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(series):
        return "INT64"
    if pd.api.types.is_float_dtype(series):
        return "FP64"
    return "BYTES"


def triton_inputs(rows: pd.DataFrame) -> list[triton.InferInput]:
    inputs = []
    for column in rows.columns:
        kind = datatype(rows[column])
        values = rows[column].to_numpy(dtype=object if kind == "BYTES" else None)
        tensor = triton.InferInput(column, [len(rows)], kind)
        tensor.set_data_from_numpy(values, binary_data=False)
        inputs.append(tensor)
    return inputs


def column_body(rows: pd.DataFrame) -> dict[str, Any]:
    """A V2 request with one input per column (missing numbers as null)."""
    inputs = []
    for column in rows.columns:
        values = rows[column].astype(object).where(rows[column].notna(), None).tolist()
        inputs.append(
            {
                "name": column,
                "shape": [len(rows)],
                "datatype": datatype(rows[column]),
                "data": values,
            }
        )
    return {"inputs": inputs}


def tensor_rows(rows: pd.DataFrame) -> list[list[Any]]:
    return rows.astype(object).where(rows.notna(), None).values.tolist()


# -- tritonclient ----------------------------------------------------------------------------


def test_health_and_metadata_with_tritonclient(
    client: triton.InferenceServerClient, trained: Trained, served: ServedModel
) -> None:
    _, result = trained
    version = result.version.version
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("churn")
    assert client.is_model_ready("churn", version)
    assert not client.is_model_ready("churn", str(int(version) + 1))
    assert not client.is_model_ready("no-such-model")
    server = client.get_server_metadata()
    assert server["name"] == "headway" and server["extensions"] == []
    meta = client.get_model_metadata("churn")
    assert meta == client.get_model_metadata("churn", version)
    assert meta["name"] == "churn" and meta["versions"] == [version]
    assert [i["name"] for i in meta["inputs"]] == list(served.types.columns)
    kinds = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert {kinds[c] for c in served.types.categorical} == {"BYTES"}
    assert {kinds[c] for c in served.types.numeric} == {"FP64"}
    outputs = {o["name"]: o for o in meta["outputs"]}
    assert outputs["predict"]["datatype"] == "INT64"
    assert outputs["proba"]["shape"] == [-1]
    assert outputs["proba"]["parameters"]["classes"] == [0, 1]
    with pytest.raises(InferenceServerException, match="not served here"):
        client.get_model_metadata("no-such-model")


def test_infer_one_input_per_column_with_tritonclient(
    client: triton.InferenceServerClient,
    rows: pd.DataFrame,
    expected: tuple[list[Any], list[float]],
    trained: Trained,
) -> None:
    labels, proba = expected
    outputs = [
        triton.InferRequestedOutput("predict", binary_data=False),
        triton.InferRequestedOutput("proba", binary_data=False),
    ]
    # total_charges holds a NaN: tritonclient writes it as a bare NaN token.
    answer = client.infer("churn", triton_inputs(rows), outputs=outputs, request_id="r-1")
    assert answer.as_numpy("predict").tolist() == labels
    assert answer.as_numpy("proba").tolist() == pytest.approx(proba, abs=1e-6)
    response = answer.get_response()
    assert response["id"] == "r-1"
    assert response["model_name"] == "churn"
    assert response["model_version"] == trained[1].version.version
    ids = response["parameters"]["prediction_ids"]
    assert len(set(ids)) == len(rows)


def test_default_binary_outputs_are_answered_in_json(
    client: triton.InferenceServerClient,
    rows: pd.DataFrame,
    expected: tuple[list[Any], list[float]],
    trained: Trained,
) -> None:
    labels, proba = expected
    # No outputs: tritonclient asks for binary_data_output; the answer is JSON.
    # A gzip body, as tritonclient's request_compression_algorithm sends it.
    answer = client.infer(
        "churn",
        triton_inputs(rows),
        model_version=trained[1].version.version,
        request_compression_algorithm="gzip",
    )
    assert answer.as_numpy("predict").tolist() == labels
    assert answer.as_numpy("proba").tolist() == pytest.approx(proba, abs=1e-6)


# -- httpx -----------------------------------------------------------------------------------


def infer(server: str, body: Any, path: str = "/v2/models/churn/infer") -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        f"{server}{path}", content=content, headers={"Content-Type": "application/json"}
    )


@pytest.mark.parametrize("nested", [False, True])
def test_two_dimensional_bytes_tensor(
    server: str, rows: pd.DataFrame, expected: tuple[list[Any], list[float]], nested: bool
) -> None:
    labels, proba = expected
    matrix = tensor_rows(rows)
    # Numbers as text, as tritonclient writes a mixed object array (NaN as "nan").
    matrix[0] = [str(v) if isinstance(v, float) else v for v in matrix[0]]
    matrix[1] = ["nan" if v is None else v for v in matrix[1]]
    data = matrix if nested else [v for row in matrix for v in row]
    body = {
        "id": "2d",
        "inputs": [
            {
                "name": "input-0",
                "shape": [len(rows), rows.shape[1]],
                "datatype": "BYTES",
                "data": data,
            }
        ],
    }
    response = infer(server, body)
    assert response.status_code == 200, response.text
    doc = response.json()
    outputs = {o["name"]: o for o in doc["outputs"]}
    assert outputs["predict"]["data"] == labels
    assert outputs["predict"]["shape"] == [len(rows)]
    assert outputs["proba"]["data"] == pytest.approx(proba, abs=1e-6)
    assert doc["id"] == "2d"


def test_columns_with_content_type_pd_as_nested_columns(
    server: str, rows: pd.DataFrame, expected: tuple[list[Any], list[float]]
) -> None:
    body = column_body(rows)
    body["parameters"] = {"content_type": "pd"}
    for tensor in body["inputs"]:
        tensor["shape"] = [len(rows), 1]
        tensor["data"] = [[v] for v in tensor["data"]]
    response = infer(server, body)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["predict"]["data"] == expected[0]


def test_outputs_filter(server: str, rows: pd.DataFrame) -> None:
    body = column_body(rows)
    body["outputs"] = [{"name": "proba", "parameters": {"binary_data": False}}]
    response = infer(server, body)
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["proba"]
    body["outputs"] = [{"name": "scores"}]
    response = infer(server, body)
    assert response.status_code == 400
    assert "'scores'" in response.json()["error"]


def _drop_inputs(body: dict[str, Any]) -> None:
    del body["inputs"]


def _short_data(body: dict[str, Any]) -> None:
    body["inputs"][0]["data"] = body["inputs"][0]["data"][:-1]


def _unknown_column(body: dict[str, Any]) -> None:
    body["inputs"].append({"name": "shoe_size", "shape": [5], "datatype": "FP64", "data": [1] * 5})


def _wrong_datatype(body: dict[str, Any]) -> None:
    region = next(i for i in body["inputs"] if i["name"] == "region")
    region["datatype"] = "FP64"


def _unknown_datatype(body: dict[str, Any]) -> None:
    body["inputs"][-1]["datatype"] = "FLOAT"


def _missing_column(body: dict[str, Any]) -> None:
    body["inputs"] = [i for i in body["inputs"] if i["name"] != "age"]


def _unequal_rows(body: dict[str, Any]) -> None:
    age = next(i for i in body["inputs"] if i["name"] == "age")
    age["shape"], age["data"] = [4], age["data"][:4]


def _text_in_fp64(body: dict[str, Any]) -> None:
    age = next(i for i in body["inputs"] if i["name"] == "age")
    age["data"][2] = "forty"


def _no_rows(body: dict[str, Any]) -> None:
    for tensor in body["inputs"]:
        tensor["shape"], tensor["data"] = [0], []


def _missing_shape(body: dict[str, Any]) -> None:
    del body["inputs"][3]["shape"]


def _binary_input(body: dict[str, Any]) -> None:
    body["inputs"][0]["parameters"] = {"binary_data_size": 40}


@pytest.mark.parametrize(
    ("mutate", "status", "names"),
    [
        (_drop_inputs, 400, "'inputs'"),
        (_short_data, 400, "input 'region'"),
        (_unknown_column, 400, "input 'shoe_size'"),
        (_wrong_datatype, 400, "input 'region'"),
        (_unknown_datatype, 400, "'FLOAT'"),
        (_missing_column, 400, "age"),
        (_unequal_rows, 400, "input 'age'"),
        (_text_in_fp64, 400, "column 'age' row 2"),
        (_no_rows, 400, "no rows"),
        (_missing_shape, 400, "'shape'"),
        (_binary_input, 400, "binary tensor data"),
    ],
)
def test_malformed_requests_are_a_4xx_naming_the_field(
    server: str, rows: pd.DataFrame, mutate: Any, status: int, names: str
) -> None:
    body = copy.deepcopy(column_body(rows))
    mutate(body)
    response = infer(server, body)
    assert response.status_code == status, response.text
    assert names in response.json()["error"]


def test_bare_infinity_is_a_400_naming_the_input(server: str, rows: pd.DataFrame) -> None:
    doc = column_body(rows)
    age = next(i for i in doc["inputs"] if i["name"] == "age")
    age["data"][0] = 12345.5
    body = orjson.dumps(doc).replace(b"12345.5", b"Infinity", 1)
    response = infer(server, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "column 'age' row 0" in error and "finite" in error


def test_fp64_tensor_for_a_model_with_categories_is_a_400(server: str, rows: pd.DataFrame) -> None:
    body = {
        "inputs": [
            {"name": "x", "shape": list(rows.shape), "datatype": "FP64", "data": [0.0] * rows.size}
        ]
    }
    response = infer(server, body)
    assert response.status_code == 400
    assert "BYTES" in response.json()["error"] and "'x'" in response.json()["error"]
    body["inputs"][0]["shape"] = [rows.shape[0], rows.shape[1] - 1]
    response = infer(server, body)
    assert response.status_code == 400
    assert "is not [n, " in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "names"),
    [
        ("POST", "/v2/models/nope/infer", "'nope'"),
        ("POST", "/v2/models/churn/versions/999/infer", "'999'"),
        ("GET", "/v2/models/nope", "'nope'"),
        ("GET", "/v2/models/churn/versions/999", "'999'"),
        ("GET", "/v2/models/churn/versions/999/ready", "'999'"),
        ("GET", "/v2/models/nope/ready", "'nope'"),
    ],
)
def test_unknown_model_or_version_is_a_404(
    server: str, rows: pd.DataFrame, method: str, path: str, names: str
) -> None:
    content = orjson.dumps(column_body(rows)) if method == "POST" else None
    response = httpx.request(method, f"{server}{path}", content=content)
    assert response.status_code == 404
    assert names in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "'inputs'"),
        (
            b'{"inputs": [{"name": "age", "shape": [1], "datatype": "FP64", "data": [1]}],'
            b' "parameters": {"content_type": "str"}}',
            "content_type",
        ),
    ],
)
def test_bodies_that_are_not_requests_are_a_400(server: str, body: bytes, names: str) -> None:
    response = infer(server, body)
    assert response.status_code == 400, response.text
    assert names in response.json()["error"]


def test_bare_nan_inside_strings_is_kept() -> None:
    body = b'{"a": "NaN and Infinity \\" NaN", "b": [NaN, 1.5, -NaN], "NaN": "x"}'
    assert load_body(body) == {"a": 'NaN and Infinity " NaN', "b": [None, 1.5, None], "NaN": "x"}


def test_v2_routes_are_documented(server: str) -> None:
    spec = httpx.get(f"{server}/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/v2",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/{name}",
        "/v2/models/{name}/versions/{version}",
        "/v2/models/{name}/ready",
        "/v2/models/{name}/versions/{version}/ready",
        "/v2/models/{name}/infer",
        "/v2/models/{name}/versions/{version}/infer",
    ):
        assert path in paths, path
    infer_op = paths["/v2/models/{name}/infer"]["post"]
    body = infer_op["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["inputs"]
    assert "shape" in body["properties"]["inputs"]["items"]["properties"]
    assert "InferenceResponse" in str(infer_op["responses"]["200"])
    assert "ErrorResponse" in str(infer_op["responses"]["400"])


@pytest.mark.parametrize("nested", [False, True])
def test_fp64_tensor_of_an_all_number_model(served: ServedModel, nested: bool) -> None:
    from headway.features.contract import FeatureTypes
    from headway.serving.oip_parse import parse_infer

    model = dataclasses.replace(served, types=FeatureTypes(numeric=("a", "b", "c"), categorical=()))
    matrix = [[1.5, None, 3], [4.0, 5.0, 6.5]]
    data = matrix if nested else [v for row in matrix for v in row]
    doc = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": "FP64", "data": data}]}
    parsed, outputs = parse_infer(doc, model)
    assert parsed.n_rows == 2 and outputs == ["predict", "proba"]
    assert parsed.columns == {"a": [1.5, 4.0], "b": [None, 5.0], "c": [3, 6.5]}
    assert parsed.frame()["b"].isna().tolist() == [True, False]
    doc["inputs"][0]["datatype"] = "BOOL"
    with pytest.raises(InvalidRequestError, match="column 'a' row 0 is a float"):
        parse_infer(doc, model)
