"""``features``: train from an entity table and a feature service of ``features.yaml``."""

from __future__ import annotations

from pydantic import Field

from headway.config._base import Section

__all__ = ["FeaturesConfig"]


class FeaturesConfig(Section):
    """Where the feature definitions are, and which service the model trains on."""

    definitions: str = Field(
        default="features.yaml",
        description="The feature definitions (entities, views, services), relative to the project.",
    )
    service: str | None = Field(
        default=None,
        description="Train on this feature service: data.source is then the entity table "
        "(join keys, event timestamp, label), and each row gets the service's features as "
        "of its timestamp (point-in-time join).",
    )
    entity_timestamp_column: str = Field(
        default="event_timestamp",
        description="The entity table's event-time column.",
    )
    online_store: str | None = Field(
        default=None,
        description="Where materialized features are served from: null = SQLite at "
        "DIR/.headway/online.db; sqlite:///PATH; redis://HOST:PORT/DB (pip install "
        "'headway[redis]').",
    )
