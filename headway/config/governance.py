"""``governance``: who moves the ``champion`` alias."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.config._base import Section

__all__ = ["GovernanceConfig"]


class GovernanceConfig(Section):
    """Who moves the ``champion`` alias."""

    promotion: Literal["auto", "manual"] = Field(
        default="auto",
        description="auto: a blessed candidate becomes champion; manual: it becomes "
        "challenger with approval pending, until 'headway approve' or 'headway reject'.",
    )
