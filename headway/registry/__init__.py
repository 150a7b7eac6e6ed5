"""Registry stage: MLflow Model Registry with aliases, tags and lineage."""

from __future__ import annotations

from headway.registry.mlflow_registry import (
    CHALLENGER,
    CHAMPION,
    ModelRegistry,
    ModelVersionInfo,
    RegisteredModelInfo,
    mlflow_uris,
    version_tags,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelRegistry",
    "ModelVersionInfo",
    "RegisteredModelInfo",
    "mlflow_uris",
    "version_tags",
]
