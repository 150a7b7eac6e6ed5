"""headway: automated MLOps for tabular predictive models.

The public API is what ``__all__`` lists; everything else is private. Names load on first
use, so that ``import headway`` (and ``headway --help``) stay fast: nothing heavy (MLflow,
scikit-learn, Optuna, matplotlib) is imported until it is needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway import exceptions as exceptions  # the error tree, as headway.exceptions
from headway._lazy import lazy_exports
from headway._version import __version__
from headway.exceptions import (
    ConfigError,
    DataError,
    GovernanceError,
    HeadwayError,
    InvalidRequestError,
    ModelNotFoundError,
    ProjectNotFoundError,
    RegistryError,
    RequestTooLargeError,
    ServingError,
    TrainingError,
)

if TYPE_CHECKING:
    from headway.artifacts import (
        Blessing,
        DatasetVersion,
        EvaluationReport,
        ModelVersionRef,
        PipelineResult,
        TrainedModel,
        ValidationReport,
    )
    from headway.config import ProjectConfig, load_config
    from headway.pipeline import init_project, run_pipeline
    from headway.pipeline.api import run
    from headway.project import Project
    from headway.settings import Settings

__all__ = [
    "Blessing",
    "ConfigError",
    "DataError",
    "DatasetVersion",
    "EvaluationReport",
    "GovernanceError",
    "HeadwayError",
    "InvalidRequestError",
    "ModelNotFoundError",
    "ModelVersionRef",
    "PipelineResult",
    "Project",
    "ProjectConfig",
    "ProjectNotFoundError",
    "RegistryError",
    "RequestTooLargeError",
    "ServingError",
    "Settings",
    "TrainedModel",
    "TrainingError",
    "ValidationReport",
    "__version__",
    "init_project",
    "load_config",
    "run",
    "run_pipeline",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        **dict.fromkeys(
            (
                "Blessing",
                "DatasetVersion",
                "EvaluationReport",
                "ModelVersionRef",
                "PipelineResult",
                "TrainedModel",
                "ValidationReport",
            ),
            "headway.artifacts",
        ),
        "ProjectConfig": "headway.config",
        "load_config": "headway.config",
        "init_project": "headway.pipeline",
        "run": "headway.pipeline.api",
        "run_pipeline": "headway.pipeline",
        "Project": "headway.project",
        "Settings": "headway.settings",
    },
)
