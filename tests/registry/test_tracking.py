"""Tracking without globals, and the declared layout of a model version."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from headway import PipelineResult, Project, run_pipeline
from headway.registry import layout
from headway.registry.tracking import PARENT_RUN_TAG
from tests.helpers import make_project


def _all_artifacts(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    found: set[str] = set()
    for item in client.list_artifacts(run_id, path):
        found |= _all_artifacts(client, run_id, item.path) if item.is_dir else {item.path}
    return found


def _headway_tags(tags: dict[str, str]) -> set[str]:
    return {name for name in tags if name.startswith(layout.TAG_PREFIX)}


def _undeclared(names: set[str], declared: tuple[layout.Tag, ...]) -> set[str]:
    return {n for n in names if not any(t.matches(n) for t in declared)}


def test_two_projects_train_concurrently_into_their_own_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a store MLflow would default to lands here
    roots = {
        name: make_project(
            tmp_path / name,
            rows=1500,
            name=name,
            training={"budget": {"trials": 2, "timeout_seconds": 60}, "n_workers": 1},
        )
        for name in ("alpha", "beta")
    }
    uri_before = mlflow.get_tracking_uri()
    env_before = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    results: dict[str, PipelineResult] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def train(name: str) -> None:
        try:
            project = Project.load(roots[name])
            start.wait(timeout=30)
            results[name] = run_pipeline(project)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=train, args=(name,)) for name in roots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert errors == []
    assert sorted(results) == ["alpha", "beta"]

    for name, other in (("alpha", "beta"), ("beta", "alpha")):
        project = Project.load(roots[name])
        client = MlflowClient(tracking_uri=project.tracking_uri)
        assert client.get_experiment_by_name(name) is not None
        assert client.get_experiment_by_name(other) is None
        assert [m.name for m in client.search_registered_models()] == [name]
        run = client.get_run(results[name].run_id)
        assert run.data.tags[layout.DATASET_HASH.name] == results[name].dataset.content_hash
        assert run.info.artifact_uri.startswith((project.state_dir / "artifacts").as_uri())
        version = client.get_model_version(name, results[name].version.version)
        assert version.run_id == results[name].run_id
        assert str(project.state_dir) in version.source
        trials = client.search_runs(
            [run.info.experiment_id], f"tags.{PARENT_RUN_TAG} = '{run.info.run_id}'"
        )
        assert len(trials) == 2
        assert not (project.root / "mlruns").exists()

    # MLflow's process-wide state is as it was.
    assert mlflow.get_tracking_uri() == uri_before
    assert {k: os.environ.get(k) for k in env_before} == env_before
    assert mlflow.active_run() is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alpha", "beta"]


def test_a_run_writes_exactly_the_declared_layout(
    trained: tuple[Project, PipelineResult],
) -> None:
    project, result = trained
    client = MlflowClient(tracking_uri=project.tracking_uri)

    files = _all_artifacts(client, result.run_id)
    assert {f for f in files if not any(a.matches(f) for a in layout.ARTIFACTS)} == set()
    missing = [
        a.path for a in layout.ARTIFACTS if a.required and not any(a.matches(f) for f in files)
    ]
    assert missing == []

    version = client.get_model_version(result.version.name, result.version.version)
    tags = _headway_tags(version.tags)
    assert _undeclared(tags, layout.VERSION_TAGS) == set()
    required = [t.name for t in layout.VERSION_TAGS if t.required and t.writer == "pipeline"]
    assert [name for name in required if not any(n.startswith(name) for n in tags)] == []

    run = client.get_run(result.run_id)
    run_tags = _headway_tags(run.data.tags)
    assert _undeclared(run_tags, layout.RUN_TAGS) == set()
    assert {t.name for t in layout.RUN_TAGS if t.required} <= run_tags

    trials = client.search_runs(
        [run.info.experiment_id], f"tags.{PARENT_RUN_TAG} = '{result.run_id}'"
    )
    assert trials
    for trial in trials:
        trial_tags = _headway_tags(trial.data.tags)
        assert _undeclared(trial_tags, layout.TRIAL_TAGS) == set()
        assert layout.TRIAL_STATE.name in trial_tags


def test_undeclared_tags_are_refused() -> None:
    with pytest.raises(KeyError, match="not declared"):
        layout.tags({"blesed": True})
    assert layout.tags({"blessed": True, "metric.rmse": 1.5, "threshold": None}) == {
        "headway.blessed": "true",
        "headway.metric.rmse": "1.5",
    }


def test_layout_names_are_unique() -> None:
    names = [t.name for t in layout.VERSION_TAGS]
    assert len(names) == len(set(names))
    paths = [a.path for a in layout.ARTIFACTS]
    assert len(paths) == len(set(paths))
    assert layout.FIGURES.matches(layout.figure("roc.png"))
    assert not layout.FIGURES.matches("evaluation/sub/roc.png")
