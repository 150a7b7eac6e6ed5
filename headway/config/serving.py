"""``serving``: defaults of ``headway serve``."""

from __future__ import annotations

from pydantic import Field

from headway.config._base import Section

__all__ = ["ServingConfig"]


class ServingConfig(Section):
    """Defaults for ``headway serve``."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
