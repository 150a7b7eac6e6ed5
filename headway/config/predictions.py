"""``predictions``: the durable log of served predictions and their feedback (labels)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.config._base import Section

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
    fsync: Literal["batch", "none"] = Field(
        default="batch",
        description="batch: each written batch is flushed to disk before its responses are "
        "sent (survives a machine crash); none: written to the operating system only "
        "(survives a killed process, not a power loss).",
    )
