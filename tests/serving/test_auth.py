"""Bearer tokens: scoring and feedback need a ``predict`` (or ``admin``) token, ``/admin``
routes an ``admin`` one, health stays open, ``/metrics`` is protected on request; a token
never shows in the server's output, its metrics or its errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from headway import PipelineResult, Project
from headway.exceptions import ConfigError
from headway.serving import ServingSettings, create_app
from headway.serving.auth import Guard, merge_tokens, parse_api_tokens, read_token_file
from headway.serving.model import ServedModel
from tests.helpers import free_port, serving

Trained = tuple[Project, PipelineResult]

PREDICT = "predict-Token-7f3a9c1e5b2d4f60"
ADMIN = "admin-Token-0c8e2a4b6d1f3e57a9"
FILE_PREDICT = "file-predict-Token-19af3c5e7d"
FILE_ADMIN = "file-admin-Token-4b2d6f8a0c1e"
WRONG = "predict-Token-7f3a9c1e5b2d4f61"  # one character off
SECRETS = (PREDICT, ADMIN, FILE_PREDICT, FILE_ADMIN, WRONG)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def serving_captured(root: Path, output: Path, env: dict[str, str]) -> Iterator[str]:
    """``headway serve`` with its stdout and stderr written to ``output``."""
    port = free_port()
    exe = shutil.which("headway", path=str(Path(sys.executable).parent)) or shutil.which("headway")
    assert exe, "the headway console script is not installed (pip install -e .)"
    with output.open("w") as sink:
        proc = subprocess.Popen(
            [exe, "serve", "--project", str(root), "--port", str(port), "--workers", "1"],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env={**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1", **env},
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"headway serve exited: {output.read_text()}")
                try:
                    if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("headway serve did not become ready in 60s")
                time.sleep(0.2)
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def records(trained: Trained) -> list[dict[str, Any]]:
    project, _ = trained
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path).tail(2).drop(columns=["churned"])
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")


@pytest.fixture(scope="module")
def output(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("auth") / "serve.log"


@pytest.fixture(scope="module")
def env_server(trained: Trained, output: Path) -> Iterator[str]:
    """The session's project served with tokens from HEADWAY_API_TOKENS, logging at DEBUG."""
    project, _ = trained
    env = {
        "HEADWAY_API_TOKENS": f"{PREDICT}:predict, {ADMIN}:admin",
        "HEADWAY_LOG_LEVEL": "DEBUG",
    }
    with serving_captured(project.root, output, env) as url:
        yield url


@pytest.fixture(scope="module")
def file_server(trained: Trained, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A copy of the project with ``serving.token_file`` and ``protect_metrics``, and one
    more token in HEADWAY_API_TOKENS (both sources count)."""
    project, _ = trained
    root = tmp_path_factory.mktemp("token-file") / "churn"
    shutil.copytree(project.root, root, ignore=shutil.ignore_patterns("predictions"))
    tokens = root / "tokens.txt"
    tokens.write_text(f"# the server's tokens\n{FILE_PREDICT} predict\n\n{FILE_ADMIN}  admin\n")
    tokens.chmod(0o600)
    config = yaml.safe_load((root / "headway.yaml").read_text())
    config.setdefault("serving", {}).update(token_file="tokens.txt", protect_metrics=True)
    (root / "headway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with serving(root, "--workers", "1", env={"HEADWAY_API_TOKENS": f"{PREDICT}:predict"}) as url:
        yield url


def v2_body(url: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    meta = httpx.get(f"{url}/v2/models/churn").json()
    inputs = []
    for spec in meta["inputs"]:
        data = [r[spec["name"]] for r in records]
        inputs.append(
            {"name": spec["name"], "shape": [len(data)], "datatype": spec["datatype"], "data": data}
        )
    return {"inputs": inputs}


def scoring_calls(url: str, records: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """(path, JSON body) of every route that needs a predict token."""
    return [
        ("/invocations", {"dataframe_records": records}),
        ("/v2/models/churn/infer", v2_body(url, records)),
        ("/feedback", {"prediction_id": "not-logged", "label": 1}),
    ]


# -- the tokens of HEADWAY_API_TOKENS ------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, bearer(WRONG), {"Authorization": PREDICT}], ids=str)
def test_scoring_without_a_valid_token_is_401(
    env_server: str, records: list[dict[str, Any]], headers: dict[str, str]
) -> None:
    for path, body in scoring_calls(env_server, records):
        response = httpx.post(f"{env_server}{path}", json=body, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error_code"] == "UNAUTHORIZED"
        assert all(secret not in response.text for secret in SECRETS)


@pytest.mark.parametrize("token", [PREDICT, ADMIN])
def test_scoring_with_a_predict_or_admin_token(
    env_server: str, records: list[dict[str, Any]], token: str
) -> None:
    for path, body in scoring_calls(env_server, records):
        response = httpx.post(f"{env_server}{path}", json=body, headers=bearer(token))
        assert response.status_code == 200, (path, response.text)
    scored = httpx.post(
        f"{env_server}/invocations",
        json={"instances": records},
        headers={"authorization": f"bearer {token}"},  # scheme and header in any case
    )
    assert scored.status_code == 200
    assert len(scored.json()["prediction_ids"]) == 2


def test_admin_routes_need_an_admin_token(env_server: str, trained: Trained) -> None:
    _, result = trained
    assert httpx.post(f"{env_server}/admin/reload").status_code == 401
    assert httpx.post(f"{env_server}/admin/reload", headers=bearer(WRONG)).status_code == 401
    forbidden = httpx.post(f"{env_server}/admin/reload", headers=bearer(PREDICT))
    assert forbidden.status_code == 403
    assert forbidden.json()["error_code"] == "FORBIDDEN"
    assert "www-authenticate" not in forbidden.headers
    reloaded = httpx.post(f"{env_server}/admin/reload", headers=bearer(ADMIN))
    assert reloaded.status_code == 200, reloaded.text
    doc = reloaded.json()
    assert doc["model"]["version"] == result.version.version
    assert doc["followed"] == "churn@champion"
    assert doc["changed"] is False


@pytest.mark.parametrize(
    "path",
    ["/health/live", "/health/ready", "/ping", "/health", "/v2/health/live", "/v2/health/ready"],
)
def test_health_is_open(env_server: str, path: str) -> None:
    assert httpx.get(f"{env_server}{path}").status_code == 200


def test_metadata_and_metrics_are_open_by_default(env_server: str) -> None:
    assert httpx.get(f"{env_server}/v2/models/churn").status_code == 200
    assert httpx.get(f"{env_server}/version").status_code == 200
    assert httpx.get(f"{env_server}/metrics").status_code == 200


def test_refusals_are_counted_and_tokens_never_reach_metrics(
    env_server: str, records: list[dict[str, Any]]
) -> None:
    httpx.post(f"{env_server}/invocations", json={"instances": records}, headers=bearer(WRONG))
    httpx.post(f"{env_server}/invocations", json={"instances": records}, headers=bearer(PREDICT))
    text = httpx.get(f"{env_server}/metrics").text
    assert 'headway_requests_total{endpoint="/invocations",status="401"}' in text
    assert all(secret not in text for secret in SECRETS)


def test_no_token_in_the_server_output(
    env_server: str, records: list[dict[str, Any]], output: Path
) -> None:
    for token in (WRONG, PREDICT, ADMIN):
        httpx.post(f"{env_server}/invocations", json={"instances": records}, headers=bearer(token))
        httpx.post(f"{env_server}/invocations", content=b"{bad", headers=bearer(token))
        httpx.post(f"{env_server}/admin/reload", headers=bearer(token))
    text = output.read_text()
    assert "Serving" in text  # the output is captured
    assert all(secret not in text for secret in SECRETS)


def test_no_token_in_the_prediction_log(
    env_server: str, records: list[dict[str, Any]], trained: Trained
) -> None:
    project, _ = trained
    response = httpx.post(
        f"{env_server}/invocations", json={"instances": records}, headers=bearer(PREDICT)
    )
    assert response.status_code == 200
    logged = b"".join(
        path.read_bytes() for path in project.predictions_dir.rglob("*") if path.is_file()
    )
    assert response.json()["prediction_ids"][0].encode() in logged
    assert all(secret.encode() not in logged for secret in SECRETS)


# -- a token file, merged with the variable, and protected metrics -------------------------


def test_token_file_and_variable_both_count(
    file_server: str, records: list[dict[str, Any]]
) -> None:
    for token in (FILE_PREDICT, FILE_ADMIN, PREDICT):
        for path, body in scoring_calls(file_server, records):
            response = httpx.post(f"{file_server}{path}", json=body, headers=bearer(token))
            assert response.status_code == 200, (path, response.text)
    for path, body in scoring_calls(file_server, records):
        assert httpx.post(f"{file_server}{path}", json=body).status_code == 401
    assert httpx.post(f"{file_server}/admin/reload", headers=bearer(PREDICT)).status_code == 403
    assert httpx.post(f"{file_server}/admin/reload", headers=bearer(FILE_ADMIN)).status_code == 200


def test_protected_metrics_need_a_token(file_server: str) -> None:
    refused = httpx.get(f"{file_server}/metrics")
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "UNAUTHORIZED"
    assert httpx.get(f"{file_server}/metrics", headers=bearer(WRONG)).status_code == 401
    metrics = httpx.get(f"{file_server}/metrics", headers=bearer(FILE_PREDICT))
    assert metrics.status_code == 200
    assert "headway_requests_total" in metrics.text
    assert all(secret not in metrics.text for secret in SECRETS)
    assert httpx.get(f"{file_server}/health/ready").status_code == 200


# -- in process ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def secured_app(trained: Trained, served: ServedModel) -> FastAPI:
    project, _ = trained
    settings = ServingSettings(
        model_uri=served.uri,
        tracking_uri=project.tracking_uri,
        api_tokens={PREDICT: "predict", ADMIN: "admin"},
    )
    return create_app(settings, model=served)


def test_the_fastapi_route_of_invocations_checks_the_token_too(
    secured_app: FastAPI, records: list[dict[str, Any]]
) -> None:
    """The route behind the direct door (apps called without it) refuses the same way."""

    async def without_door(scope: Any, receive: Any, send: Any) -> None:
        await FastAPI.__call__(secured_app, scope, receive, send)

    client = TestClient(without_door)
    assert client.post("/invocations", json={"instances": records}).status_code == 401
    wrong = client.post("/invocations", json={"instances": records}, headers=bearer(WRONG))
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    ok = client.post("/invocations", json={"instances": records}, headers=bearer(PREDICT))
    assert ok.status_code == 200, ok.text


def test_openapi_documents_the_bearer_scheme(secured_app: FastAPI) -> None:
    doc = TestClient(secured_app).get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert doc["paths"]["/invocations"]["post"]["security"] == [{"bearer": []}]
    assert doc["paths"]["/feedback"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in doc["paths"]["/health/ready"]["get"]
    assert "401" in doc["paths"]["/v2/models/{name}/infer"]["post"]["responses"]


def test_settings_never_show_tokens(secured_app: FastAPI) -> None:
    settings = secured_app.state.serving.settings
    assert PREDICT not in repr(settings) and PREDICT not in str(settings)
    assert PREDICT not in repr(secured_app.state.guard)


# -- the configuration -----------------------------------------------------------------------


def test_tokens_parse_and_merge(tmp_path: Path) -> None:
    assert parse_api_tokens(f" {PREDICT}:predict ,{ADMIN}:admin,") == {
        PREDICT: "predict",
        ADMIN: "admin",
    }
    path = tmp_path / "tokens"
    path.write_text(f"{FILE_ADMIN} admin  # the operator\n\n# comment\n{PREDICT} predict\n")
    assert read_token_file(path) == {FILE_ADMIN: "admin", PREDICT: "predict"}
    assert merge_tokens(None, {}) is None
    assert merge_tokens({PREDICT: "predict"}, read_token_file(path)) == {
        PREDICT: "predict",
        FILE_ADMIN: "admin",
    }


@pytest.mark.parametrize(
    "text",
    [
        f"{PREDICT}",  # no role
        f"{PREDICT}:owner",  # unknown role
        "tiny0:predict",  # too short
        f"{PREDICT}!:predict",  # not a bearer token
        f"{PREDICT}:predict,{PREDICT}:admin",  # two roles
    ],
)
def test_bad_variable_entries_are_named_without_the_token(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_api_tokens(text)
    assert "HEADWAY_API_TOKENS" in str(info.value)
    assert PREDICT not in str(info.value) and "tiny0" not in str(info.value)


def test_bad_token_file_lines_are_named_by_number(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"{ADMIN} admin\n{PREDICT} predict extra\n")
    with pytest.raises(ConfigError, match="line 2") as info:
        read_token_file(path)
    assert PREDICT not in str(info.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        read_token_file(tmp_path / "missing")
    with pytest.raises(ConfigError, match="another role"):
        merge_tokens({PREDICT: "predict"}, {PREDICT: "admin"})


def test_the_guard_ranks_tokens() -> None:
    guard = Guard({PREDICT: "predict", ADMIN: "admin"})
    assert guard.rank(f"Bearer {PREDICT}") == 1
    assert guard.rank(f"Bearer {ADMIN}".encode()) == 2
    assert guard.rank(f"Bearer {WRONG}") == 0
    assert guard.rank(f"Basic {PREDICT}") == 0
    assert guard.rank(None) == 0
    assert guard.check(f"Bearer {PREDICT}", "predict") is None
    refused = guard.check(f"Bearer {PREDICT}", "admin")
    assert refused is not None and refused.status == 403
    missing = guard.check(None, "predict")
    assert missing is not None and missing.status == 401
    off = Guard(None)
    assert not off.enabled and off.checker("predict") is None and off.check(None, "admin") is None
