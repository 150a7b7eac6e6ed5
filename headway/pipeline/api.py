"""The notebook entry points: a project from a table, then the whole loop, in two lines.

::

    import headway

    headway.init_project("churn", data=frame, target="churned")
    result = headway.run("churn")  # the registered version, its blessing and evaluation
"""

from __future__ import annotations

from pathlib import Path

from headway.artifacts import PipelineResult
from headway.pipeline.run import PipelineObserver, run_pipeline
from headway.project import Project

__all__ = ["run"]


def run(directory: str | Path, *, observer: PipelineObserver | None = None) -> PipelineResult:
    """Load the project in ``directory`` and run the pipeline once (as ``headway run``).

    Returns:
        The :class:`~headway.artifacts.PipelineResult`: the registered version (with its
        aliases), the blessing and the evaluation.

    Raises:
        ProjectNotFoundError: ``directory`` holds no ``headway.yaml``.
        ConfigError, DataError, TrainingError, RegistryError: as :func:`run_pipeline`.
    """
    return run_pipeline(Project.load(directory), observer=observer)
