"""Fixtures shared by every test package: a small project trained once per session (real MLflow
store)."""

from __future__ import annotations

import pytest

from headway import PipelineResult, Project, run_pipeline
from tests.helpers import make_project


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    """One project trained once per test session (an MLflow SQLite store is slow to create)."""
    root = make_project(tmp_path_factory.mktemp("trained") / "churn")
    project = Project.load(root)
    return project, run_pipeline(project)
