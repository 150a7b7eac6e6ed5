"""Reproducing without the dataset snapshot: a clear error, and the setting that fixes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from headway import Project, run_pipeline
from headway.exceptions import DataError
from headway.pipeline import reproduce
from headway.pipeline.snapshots import publishes_snapshots
from headway.registry import ModelRegistry
from tests.helpers import make_project


def test_the_embedded_store_keeps_snapshots_local_and_says_so_when_one_is_gone(
    tmp_path: Path,
) -> None:
    project = Project.load(make_project(tmp_path / "p", rows=600))
    assert not publishes_snapshots(project)
    result = run_pipeline(project)
    registry = ModelRegistry(project.tracking_uri)
    assert registry.client.list_artifacts(result.run_id, "data/snapshot") == []
    version = registry.get_version(result.version.name, result.version.version)
    assert "headway.snapshot_run" not in version.tags

    shutil.rmtree(project.datasets_dir)
    with pytest.raises(DataError, match=r"mlflow\.dataset_snapshots: always"):
        reproduce(project, result.version.name, result.version.version)


def test_always_logs_the_snapshot_with_the_embedded_store(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=600, mlflow={"dataset_snapshots": "always"})
    project = Project.load(root)
    result = run_pipeline(project)
    shutil.rmtree(project.datasets_dir)
    report = reproduce(project, result.version.name, result.version.version)
    assert report.matches
    assert len(list(project.datasets_dir.glob("*/data.parquet"))) == 1


def test_an_unknown_snapshot_mode_names_the_key(tmp_path: Path) -> None:
    from headway.exceptions import ConfigError

    root = make_project(tmp_path / "p", rows=200, mlflow={"dataset_snapshots": "sometimes"})
    with pytest.raises(ConfigError, match="dataset_snapshots"):
        Project.load(root)
