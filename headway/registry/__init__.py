"""Registry stage: a thin layer over MLflow tracking and the Model Registry — runs written
without globals, registration, aliases, governance, the declared layout of a model version,
and model cards."""

from __future__ import annotations

from headway.registry.layout import CHALLENGER, CHAMPION
from headway.registry.mlflow_registry import (
    ModelRegistry,
    ModelVersionInfo,
    RegisteredModelInfo,
)
from headway.registry.tracking import TrackedRun

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "TrackedRun",
]
