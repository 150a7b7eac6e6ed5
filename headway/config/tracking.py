"""``mlflow``: where runs and models are tracked and registered."""

from __future__ import annotations

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
