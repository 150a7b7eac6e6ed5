"""Registry stage: a thin layer over MLflow tracking and the Model Registry — runs written
without globals, registration, aliases, governance, the declared layout of a model version,
and model cards. Names load on first use (MLflow is imported only when needed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway._lazy import lazy_exports
from headway.registry.layout import CHALLENGER, CHAMPION

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ModelRegistry": ".mlflow_registry",
        "ModelVersionInfo": ".mlflow_registry",
        "RegisteredModelInfo": ".mlflow_registry",
        "TrackedRun": ".tracking",
    },
)
