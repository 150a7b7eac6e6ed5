"""A running server follows its alias: a swap under concurrent load fails no request, and a
version that cannot load never replaces the working one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from headway import PipelineResult, Project, run_pipeline
from headway.registry import CHAMPION, ModelRegistry
from tests.helpers import make_project, serving


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    """A project with versions 1 (the champion) and 2 registered."""
    root = make_project(
        tmp_path_factory.mktemp("swap") / "churn",
        rows=600,
        training={"budget": {"trials": 2, "timeout_seconds": 60}, "model_families": ["lightgbm"]},
        evaluation={"explain": False},
    )
    project = Project.load(root)
    run_pipeline(project)
    second = run_pipeline(project)
    assert second.version.version == "2"
    registry = ModelRegistry(project.tracking_uri)
    registry.set_alias("churn", CHAMPION, "1")
    return project, second


def _body(project: Project) -> dict[str, object]:
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path).dropna().head(3).drop(columns=["churned"])
    rows = frame.astype(object).to_numpy().tolist()
    return {"dataframe_split": {"columns": list(frame.columns), "data": rows}}


class _Load:
    """Threads posting requests until stopped; every answer's status and model version."""

    def __init__(self, url: str, body: dict[str, object], threads: int = 4) -> None:
        self.url, self.body = url, body
        self.answers: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                response = client.post("/invocations", json=self.body)
                version = response.json().get("model", {}).get("version", "?")
                with self._lock:
                    self.answers.append((response.status_code, str(version)))

    def __enter__(self) -> _Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def versions(self) -> list[str]:
        with self._lock:
            return [v for _, v in self.answers]


def _samples(text: str, family: str) -> list[Sample]:
    return [s for f in text_string_to_metric_families(text) if f.name == family for s in f.samples]


def _wait_for(predicate: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


@pytest.fixture
def server(two_versions: tuple[Project, PipelineResult]) -> Iterator[str]:
    project, _ = two_versions
    ModelRegistry(project.tracking_uri).set_alias("churn", CHAMPION, "1")
    with serving(project.root, "--workers", "2") as url:
        yield url


def test_a_swap_under_load_fails_no_request(
    two_versions: tuple[Project, PipelineResult], server: str
) -> None:
    project, _ = two_versions
    registry = ModelRegistry(project.tracking_uri)
    with _Load(server, _body(project)) as load:
        _wait_for(lambda: len(load.versions()) >= 50)
        registry.set_alias("churn", CHAMPION, "2")  # as promote does, from another process
        _wait_for(lambda: load.versions()[-20:] == ["2"] * 20)
        seen = len(load.versions())
        _wait_for(lambda: len(load.versions()) >= seen + 50)
    statuses = {status for status, _ in load.answers}
    assert statuses == {200}
    versions = load.versions()
    assert versions[0] == "1" and versions[-1] == "2"
    assert set(versions) == {"1", "2"}

    def served() -> dict[str, float]:  # over both workers (multiprocess metrics)
        samples = _samples(httpx.get(f"{server}/metrics").text, "headway_model_info")
        return {s.labels["version"]: s.value for s in samples}

    # The load's connections may all have gone to one worker: the other follows the alias
    # on its own, within a second of looking.
    _wait_for(lambda: served().get("1") == 0.0)
    assert served() == {"1": 0.0, "2": 1.0}
    ready = httpx.get(f"{server}/health/ready").json()
    assert ready["status"] == "ready" and ready["model"]["version"] == "2"


def test_a_version_that_fails_to_load_never_replaces_the_working_one(
    two_versions: tuple[Project, PipelineResult], server: str, tmp_path: Path
) -> None:
    project, _ = two_versions
    client = MlflowClient(tracking_uri=project.tracking_uri)
    broken = client.create_model_version("churn", source=str(tmp_path / "no-such-model"))
    client.set_registered_model_alias("churn", CHAMPION, broken.version)
    try:
        # Every worker looks the alias up on its own: all of them report it.
        _wait_for(
            lambda: all(
                httpx.get(f"{server}/health/ready").json()["status"] == "degraded" for _ in range(8)
            )
        )
        ready = httpx.get(f"{server}/health/ready").json()
        assert ready["model"]["version"] == "1"
        assert f"version {broken.version}, which failed to load" in ready["reason"]
        answer = httpx.post(f"{server}/invocations", json=_body(project))
        assert answer.status_code == 200 and answer.json()["model"]["version"] == "1"
        failures = _samples(httpx.get(f"{server}/metrics").text, "headway_model_load_failures")
        assert [
            (s.labels["version"], s.value >= 1) for s in failures if s.name.endswith("_total")
        ] == [(str(broken.version), True)]
    finally:
        client.delete_model_version("churn", broken.version)
