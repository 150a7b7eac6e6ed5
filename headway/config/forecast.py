"""``forecast``: the lag, rolling and calendar features of the ``forecast`` task."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from headway.config._base import Section

__all__ = ["ForecastConfig"]


class ForecastConfig(Section):
    """Features of the ``forecast`` task, built from each series' own past."""

    horizon: int = Field(
        default=7, ge=1, le=1000, description="How many periods ahead the model forecasts."
    )
    lags: list[int] | None = Field(
        default=None,
        description="Past periods used as features, each >= horizon; default horizon x 1, 2, 4.",
    )
    windows: list[int] = Field(
        default_factory=lambda: [7, 28],
        description="Rolling-mean windows, ending horizon periods before the row.",
    )
    frequency: Literal["D", "W", "MS"] = Field(
        default="D", description="Period of the series: daily, weekly, monthly."
    )

    @model_validator(mode="after")
    def _lags_after_horizon(self) -> ForecastConfig:
        early = [lag for lag in self.lags or [] if lag < self.horizon]
        if early:
            raise ValueError(
                f"forecast.lags {early} are shorter than forecast.horizon ({self.horizon}): "
                "the model would use values not yet known when it forecasts; use lags >= "
                "the horizon"
            )
        if any(w < 1 for w in self.windows):
            raise ValueError("forecast.windows must be positive numbers of periods")
        return self

    @property
    def resolved_lags(self) -> list[int]:
        return self.lags or [self.horizon, 2 * self.horizon, 4 * self.horizon]
