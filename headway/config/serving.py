"""``serving``: defaults of ``headway serve``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.config._base import Section

__all__ = ["ServingConfig"]


class ServingConfig(Section):
    """Defaults for ``headway serve``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int | Literal["auto"] = Field(
        default="auto",
        description="Worker processes, each with the model loaded; auto = one per CPU core.",
    )
    batching: bool = Field(
        default=True,
        description="Score concurrent requests for the model in one call (micro-batching).",
    )
    max_batch_rows: int = Field(default=256, ge=1, description="Most rows in one micro-batch.")
    timeout_ms: float | None = Field(
        default=None,
        gt=0,
        description="Answer from the fallback (the previous champion) when the model takes "
        "longer than this; null: wait for it.",
    )
    max_wait_ms: float = Field(
        default=0.0,
        ge=0,
        le=100,
        description="How long a micro-batch waits for more requests; 0 = it takes whatever "
        "is waiting when the model is free.",
    )
    token_file: str | None = Field(
        default=None,
        description="A file of bearer tokens, one 'TOKEN ROLE' per line (role predict or "
        "admin), relative to the project; merged with HEADWAY_API_TOKENS.",
    )
    protect_metrics: bool = Field(
        default=False,
        description="GET /metrics needs a token too (when tokens are configured).",
    )
