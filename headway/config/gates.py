"""``gates``: what a candidate must reach to become ``champion``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from headway.config._base import Section
from headway.tasks import HIGHER_IS_BETTER

__all__ = ["GateConfig"]


class GateConfig(Section):
    """What a candidate must reach to become ``champion``."""

    min_metrics: dict[str, float] = Field(
        default_factory=dict, description="Lower bounds, e.g. {roc_auc: 0.7}."
    )
    max_metrics: dict[str, float] = Field(
        default_factory=dict, description="Upper bounds, e.g. {rmse: 12.5}."
    )
    min_improvement: float = Field(
        default=0.0,
        ge=0,
        description="How much the candidate must beat the champion on the primary metric.",
    )
    min_relative_improvement: float = Field(
        default=0.0,
        ge=0,
        description="The same, as a fraction of the champion's value (0.01 = 1%).",
    )
    paired_bootstrap: int = Field(
        default=500,
        ge=0,
        le=10_000,
        description="Resamples of the paired bootstrap that decides whether a change "
        "against the champion is beyond noise; 0 compares the point values.",
    )
    max_demographic_parity_difference: float | None = Field(
        default=None, ge=0, le=1, description="Bound for every evaluation.sensitive_columns."
    )
    max_equalized_odds_difference: float | None = Field(
        default=None, ge=0, le=1, description="Bound for every evaluation.sensitive_columns."
    )
    fairness_evidence: Literal["violation", "compliance"] = Field(
        default="violation",
        description="What a fairness bound asks of a gap's 95% interval: violation fails only "
        "when its lower end exceeds the bound; compliance passes only when its upper end is "
        "within it.",
    )
    max_latency_ms: float | None = Field(
        default=None, gt=0, description="Bound on the p95 time of a one-row prediction."
    )
    max_model_size_mb: float | None = Field(
        default=None, gt=0, description="Bound on the serialized model's size."
    )
    behaviour: bool = Field(
        default=True, description="Every behavioural check of the evaluation must pass."
    )

    @field_validator("min_metrics", "max_metrics")
    @classmethod
    def _known_metrics(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(HIGHER_IS_BETTER))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {sorted(HIGHER_IS_BETTER)}")
        return value
