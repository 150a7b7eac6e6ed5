"""``control_plane``: where headway keeps its own state."""

from __future__ import annotations

from pydantic import Field

from headway.config._base import Section

__all__ = ["ControlPlaneConfig"]


class ControlPlaneConfig(Section):
    """Where headway keeps its own state (the audit log of decisions)."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL (PostgreSQL for a team); DIR/.headway/control.db if "
        "omitted. HEADWAY_CONTROL_DB_URL overrides it (use it for a URL with a password).",
    )
