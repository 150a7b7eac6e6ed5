"""Serving fixtures: ``headway serve`` as a real process on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from headway import PipelineResult, Project
from tests.helpers import serving


@pytest.fixture(scope="session")
def server(trained: tuple[Project, PipelineResult]) -> Iterator[str]:
    """``headway serve`` for the session's trained project, on a free 127.0.0.1 port."""
    project, _ = trained
    with serving(project.root) as url:
        yield url
