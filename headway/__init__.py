"""headway: automated MLOps for tabular predictive models.

The public API is what ``__all__`` lists; everything else is private.
"""

from __future__ import annotations

from headway._version import __version__
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
from headway.exceptions import (
    ConfigError,
    DataError,
    GovernanceError,
    HeadwayError,
    InvalidRequestError,
    ModelNotFoundError,
    ProjectNotFoundError,
    RegistryError,
    ServingError,
    TrainingError,
)
from headway.pipeline import run_pipeline
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
    "ServingError",
    "Settings",
    "TrainedModel",
    "TrainingError",
    "ValidationReport",
    "__version__",
    "load_config",
    "run_pipeline",
]
