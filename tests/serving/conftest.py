"""Serving fixtures: ``headway serve`` as a real process on 127.0.0.1, the registered churn
model loaded in memory, and a churn project whose ``has_discount`` column is boolean."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from headway import PipelineResult, Project, run_pipeline
from headway.registry import ModelRegistry
from headway.serving.model import ServedModel
from tests.helpers import make_project, serving


@pytest.fixture(scope="session")
def server(trained: tuple[Project, PipelineResult]) -> Iterator[str]:
    """``headway serve`` for the session's trained project, on a free 127.0.0.1 port."""
    project, _ = trained
    with serving(project.root) as url:
        yield url


def load_served(project: Project, result: PipelineResult) -> ServedModel:
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    return ServedModel.load(f"models:/{result.version.name}/{result.version.version}", registry)


@pytest.fixture(scope="session")
def served(trained: tuple[Project, PipelineResult]) -> ServedModel:
    """The session's registered churn model, loaded as the server loads it."""
    return load_served(*trained)


@pytest.fixture(scope="session")
def boolean_trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    """A small churn project whose ``has_discount`` column holds True/False (a bool column
    in schema.yaml), trained with a fast budget."""
    root = make_project(
        Path(tmp_path_factory.mktemp("boolean")) / "churn",
        rows=800,
        training={"budget": {"trials": 2, "timeout_seconds": 60}, "model_families": ["lightgbm"]},
        evaluation={"explain": False},
    )
    project = Project.load(root)
    assert project.data_path is not None
    table = pd.read_csv(project.data_path)
    table["has_discount"] = table["has_discount"].eq("yes")
    table.to_csv(project.data_path, index=False)
    return project, run_pipeline(project)
