"""``mlflow``: where runs and models are tracked and registered."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.config._base import Section

__all__ = ["MlflowConfig"]


class MlflowConfig(Section):
    """Where runs and models are stored. ``None`` means the embedded store in ``.headway/``."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; HEADWAY_TRACKING_URI overrides it (use it for a "
        "URI with a password).",
    )
    registry_uri: str | None = Field(
        default=None,
        description="MLflow registry URI when not the tracking URI; HEADWAY_REGISTRY_URI "
        "overrides it.",
    )
    experiment: str | None = Field(default=None, description="Defaults to the project name.")
    model_name: str | None = Field(default=None, description="Defaults to the project name.")
    dataset_snapshots: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Log each dataset version's snapshot to the tracking server's artifact "
        "store (once per version), so that reproduce and lineage work from another "
        "machine; auto = when a tracking URI is set (not the embedded store).",
    )
