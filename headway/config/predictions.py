"""``predictions``: the durable log of served predictions and their feedback (labels)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from headway.config._base import Section
from headway.config.monitoring import duration

__all__ = ["PredictionLogConfig"]


class PredictionLogConfig(Section):
    """Where every answered prediction is kept, and how hard the log tries to keep it."""

    enabled: bool = Field(
        default=True, description="Log every prediction the server answers (and batch scores)."
    )
    url: str | None = Field(
        default=None,
        description="Where the log lives: null = segment files under DIR/.headway/predictions "
        "(compacted to Parquet), a PostgreSQL URL, or s3://BUCKET/PREFIX; "
        "HEADWAY_PREDICTIONS_URL overrides it (use it for a URL with a password).",
    )
    compact_every: str | None = Field(
        default="1h",
        description="How often a running server compacts the embedded log (closed segments "
        "become Parquet parts) or uploads the S3 spool; null: only when it stops.",
    )
    fsync: Literal["batch", "none"] = Field(
        default="batch",
        description="batch: each written batch is flushed to disk before its responses are "
        "sent (survives a machine crash); none: written to the operating system only "
        "(survives a killed process, not a power loss).",
    )

    @field_validator("compact_every")
    @classmethod
    def _compact_every(cls, value: str | None) -> str | None:
        if value is not None:
            duration(value, "compact_every")
        return value
