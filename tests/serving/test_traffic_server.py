"""A running ``headway serve`` (two workers) follows the deployment record without a restart,
whether ``headway traffic set`` or ``POST /admin/traffic`` changes it; refused changes answer
4xx and change nothing.

The project: v1 trained and blessed, v2 trained and promoted by force, so v2 is the champion
and v1 a blessed earlier version that may take live traffic (promotion: auto).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from headway import Project, run_pipeline
from headway.controlplane import AuditLog, DeploymentStore
from headway.predictions import open_prediction_log
from headway.registry import CHAMPION, ModelRegistry
from headway.registry.governance import Governor
from tests.helpers import make_tiny_project, run_cli, serving, start_server

# A bound on waiting for both workers to follow (they look every second); never asserted.
FOLLOW_DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    root = make_tiny_project(tmp_path_factory.mktemp("traffic-server") / "churn", rows=800)
    loaded = Project.load(root)
    assert run_pipeline(loaded).blessing.blessed
    run_pipeline(loaded)
    registry = ModelRegistry(loaded.tracking_uri, loaded.registry_uri)
    with AuditLog.for_project(loaded) as audit:
        Governor(registry, audit, "churn").promote("2", actor="ana", reason="test", force=True)
    assert registry.version_by_alias("churn", CHAMPION).version == "2"  # type: ignore[union-attr]
    assert registry.get_version("churn", "1").blessed
    return loaded


@pytest.fixture
def server(project: Project) -> Iterator[str]:
    """A fresh record (single) and a fresh two-worker server for each test."""
    with DeploymentStore.for_project(project) as store:
        store.set(
            "churn", candidate=None, mode="single", weight=0.0, entity_column=None,
            actor="test", reason="reset",
        )  # fmt: skip
    with serving(project.root, "--workers", "2") as url:
        yield url


@pytest.fixture(scope="module")
def refusing_server(project: Project) -> Iterator[str]:
    """One server for the refusals: each changes nothing, so they can share it."""
    with serving(project.root, "--workers", "2") as url:
        yield url


@pytest.fixture(scope="module")
def body(project: Project) -> dict[str, Any]:
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path).dropna().head(3).drop(columns=["churned"])
    return {
        "dataframe_split": {
            "columns": list(frame.columns),
            "data": frame.astype(object).to_numpy().tolist(),
        }
    }


def _until_stable(url: str, body: dict[str, Any], wanted: Any) -> list[dict[str, Any]]:
    """Score until 20 answers in a row satisfy ``wanted`` (both workers have followed);
    those 20 answers. Bounded by FOLLOW_DEADLINE_S."""
    deadline = time.monotonic() + FOLLOW_DEADLINE_S
    streak: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=10) as client:
        while len(streak) < 20 and time.monotonic() < deadline:
            answer = client.post("/invocations", json=body)
            assert answer.status_code == 200, answer.text
            doc = answer.json()
            streak = [*streak, doc] if wanted(doc) else []
            if not streak:
                time.sleep(0.05)
    return streak


def _cli(project: Project, *args: str) -> None:
    out = run_cli("traffic", "set", "--project", str(project.root), *args)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_server_follows_traffic_set_without_a_restart(
    project: Project, server: str, body: dict[str, Any]
) -> None:
    before = _until_stable(server, body, lambda d: d["model"]["version"] == "2")
    assert len(before) == 20 and all("routes" not in d for d in before)

    _cli(project, "--mode", "canary", "--candidate", "churn/1", "--weight", "1", "--by", "ana")
    canary = _until_stable(server, body, lambda d: d["model"]["version"] == "1")
    assert len(canary) == 20
    assert all(d["routes"] == ["canary"] * 3 for d in canary)

    _cli(project, "--mode", "shadow", "--candidate", "churn/1", "--by", "ana")
    shadow = _until_stable(
        server, body, lambda d: d["model"]["version"] == "2" and "routes" not in d
    )
    assert len(shadow) == 20

    _cli(project, "--mode", "single", "--by", "ana")
    single = _until_stable(server, body, lambda d: d["model"]["version"] == "2")
    assert len(single) == 20
    with DeploymentStore.for_project(project) as store:
        record = store.get("churn")
    assert (record.mode, record.candidate, record.actor) == ("single", None, "ana")


def test_post_admin_traffic_changes_the_record_and_the_routing(
    project: Project, server: str, body: dict[str, Any]
) -> None:
    change = {"mode": "canary", "candidate": "1", "weight": 1.0, "by": "bo", "reason": "try"}
    answer = httpx.post(f"{server}/admin/traffic", json=change, timeout=30)

    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["deployment"]["mode"] == "canary" and doc["deployment"]["candidate"] == "1"
    assert doc["deployment"]["actor"] == "bo" and doc["deployment"]["reason"] == "try"
    assert doc["routing"]["candidate"] == "1"  # the answering worker applied it at once
    assert doc["routing"]["revision"] == doc["deployment"]["revision"]
    assert len(_until_stable(server, body, lambda d: d["model"]["version"] == "1")) == 20

    shown = httpx.get(f"{server}/admin/traffic", timeout=30).json()
    assert shown["deployment"] == doc["deployment"]
    with AuditLog.for_project(project) as audit:
        last = [e.as_dict() for e in audit.events(action="traffic")][-1]
    assert (last["actor"], last["version"], last["details"]["mode"]) == ("bo", "1", "canary")


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"mode": "canary", "candidate": "1", "weight": 1.5}, 400, "weight must be between"),
        ({"mode": "ab", "candidate": "1", "weight": 0.5}, 400, "entity_column is required"),
        ({"mode": "shadow"}, 400, "candidate is required"),
        ({"mode": "canary", "candidate": "99", "weight": 0.1}, 404, "99"),
        ({"mode": "canary", "candidate": "2", "weight": 0.1}, 409, "is the champion"),
        ({"mode": "blue-green", "candidate": "1"}, 422, "mode"),
        ({"mode": "canary", "candidate": "1", "weight": "lots"}, 422, "weight"),
    ],
)
def test_a_refused_change_is_4xx_and_changes_nothing(
    project: Project, refusing_server: str, change: dict[str, Any], status: int, words: str
) -> None:
    with DeploymentStore.for_project(project) as store:
        before = store.get("churn")

    answer = httpx.post(f"{refusing_server}/admin/traffic", json=change, timeout=30)

    assert answer.status_code == status, answer.text
    assert words in answer.text
    with DeploymentStore.for_project(project) as store:
        assert store.get("churn") == before


def _shadowed(url: str) -> float:
    """headway_routed_requests_total{route="shadow"} over the server's workers."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "headway_routed_requests_total" and s.labels.get("route") == "shadow"
    )


def test_shadowed_rows_are_logged_under_route_shadow(
    project: Project, server: str, body: dict[str, Any]
) -> None:
    answer = httpx.post(
        f"{server}/admin/traffic", json={"mode": "shadow", "candidate": "1"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + FOLLOW_DEADLINE_S
    answers: list[dict[str, Any]] = []
    with httpx.Client(base_url=server, timeout=10) as client:
        while _shadowed(server) < 20 and time.monotonic() < deadline:
            answers.append(client.post("/invocations", json=body).json())
    assert _shadowed(server) >= 20
    assert {d["model"]["version"] for d in answers} == {"2"}  # the champion answers
    assert all("routes" not in d for d in answers)
    ids = {i for d in answers for i in d["prediction_ids"]}

    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        logged = log.read(model_name="churn")
    answered = logged[logged["prediction_id"].isin(ids)]
    assert len(answered) == len(ids)
    assert set(answered["route"]) == {"champion"}
    assert set(answered["model_version"]) == {"2"}
    shadow = logged[logged["route"] == "shadow"]
    assert len(shadow) >= 3 * 19  # counted once scored and logged
    assert set(shadow["model_version"]) == {"1"}


def _v2_body(body: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """The rows of ``body`` as a V2 request: one input per model column."""
    split = body["dataframe_split"]
    inputs = []
    for j, column in enumerate(split["columns"]):
        if column not in columns:
            continue
        values = [row[j] for row in split["data"]]
        numeric = all(isinstance(v, int | float) for v in values)
        inputs.append(
            {
                "name": column,
                "shape": [len(values)],
                "datatype": "FP64" if numeric else "BYTES",
                "data": [float(v) for v in values] if numeric else [str(v) for v in values],
            }
        )
    return {"inputs": inputs}


def test_v2_infer_follows_the_record_and_a_version_in_the_path_pins_it(
    project: Project, server: str, body: dict[str, Any]
) -> None:
    change = {"mode": "canary", "candidate": "1", "weight": 1.0, "by": "bo", "reason": "v2"}
    assert httpx.post(f"{server}/admin/traffic", json=change, timeout=30).status_code == 200
    assert len(_until_stable(server, body, lambda d: d["model"]["version"] == "1")) == 20
    with httpx.Client(base_url=server, timeout=10) as client:
        meta = client.get("/v2/models/churn").json()
        v2 = _v2_body(body, [i["name"] for i in meta["inputs"]])
        # Until 10 answers in a row come from the candidate (this connection's worker has
        # followed the record); bounded by FOLLOW_DEADLINE_S.
        deadline = time.monotonic() + FOLLOW_DEADLINE_S
        routed: list[httpx.Response] = []
        while len(routed) < 10 and time.monotonic() < deadline:
            answer = client.post("/v2/models/churn/infer", json=v2)
            assert answer.status_code == 200, answer.text
            followed = answer.json()["model_version"] == "1"
            routed = [*routed, answer] if followed else []
        pinned = {
            version: client.post(f"/v2/models/churn/versions/{version}/infer", json=v2)
            for version in ("1", "2", "3")
        }
        ready = client.get("/v2/models/churn/versions/1/ready")

    assert len(routed) == 10
    assert all(r.json()["parameters"]["routes"] == ["canary"] * 3 for r in routed)
    assert pinned["1"].status_code == 200 and pinned["1"].json()["model_version"] == "1"
    assert pinned["2"].status_code == 200 and pinned["2"].json()["model_version"] == "2"
    assert "routes" not in pinned["2"].json()["parameters"]
    assert pinned["3"].status_code == 404
    assert "the served versions are '2', '1'" in pinned["3"].json()["error"]
    assert ready.status_code == 200 and ready.json()["ready"] is True

    ids = [i for r in routed for i in r.json()["parameters"]["prediction_ids"]]
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        logged = log.get(ids)
    assert len(logged) == 30
    assert set(logged["model_version"]) == {"1"} and set(logged["route"]) == {"canary"}


def test_a_killed_server_restarts_on_the_recorded_canary_with_its_answers_logged(
    project: Project, body: dict[str, Any]
) -> None:
    with DeploymentStore.for_project(project) as store:
        store.set(
            "churn", candidate="1", mode="canary", weight=1.0, entity_column=None,
            actor="test", reason="canary before the crash",
        )  # fmt: skip
    proc, url = start_server(project.root)
    try:
        before = _until_stable(url, body, lambda d: d["model"]["version"] == "1")
    finally:
        proc.kill()  # no shutdown: nothing flushed or compacted on the way out
        proc.wait(timeout=10)
    assert len(before) == 20
    ids = [i for d in before for i in d["prediction_ids"]]

    restarted, url = start_server(project.root)
    try:
        first = httpx.post(f"{url}/invocations", json=body, timeout=30)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    assert first.status_code == 200, first.text
    assert first.json()["model"]["version"] == "1"  # the very first answer: the record
    assert first.json()["routes"] == ["canary"] * 3

    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        logged = log.get(ids)
    assert len(logged) == len(ids) == 60  # every answer given before the kill is logged
    assert set(logged["route"]) == {"canary"} and set(logged["model_version"]) == {"1"}
