"""``evaluation``: what the evaluation of a candidate reports beside the metrics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from headway.config._base import Section

__all__ = ["EvaluationConfig", "Outcome"]


Outcome = Literal["true_positive", "false_positive", "true_negative", "false_negative"]


class EvaluationConfig(Section):
    """What the evaluation of a candidate reports beside the metrics."""

    slice_columns: list[str] = Field(
        default_factory=list,
        description="Columns whose values get their own metrics (numeric ones in quartiles).",
    )
    auto_slices: bool = Field(
        default=True,
        description="Also slice by every categorical feature with 2-12 values.",
    )
    sensitive_columns: list[str] = Field(
        default_factory=list,
        description="Columns for the fairness report (fairlearn); they need not be features.",
    )
    min_group_size: int = Field(
        default=30,
        ge=1,
        description="Fairness: groups with fewer rows are reported but left out of the gaps "
        "the gate reads.",
    )
    sensitive_missing: Literal["group", "exclude"] = Field(
        default="group",
        description="Fairness: missing values of a sensitive column form a '(missing)' group "
        "(group) or their rows are left out and counted (exclude).",
    )
    sensitive_bins: int = Field(
        default=4,
        ge=2,
        le=20,
        description="Fairness: quantile bins of a numeric sensitive column with more distinct "
        "values than this (4: quartiles).",
    )
    business_values: dict[Outcome, float] = Field(
        default_factory=dict,
        description="Binary: value of one outcome of each kind, e.g. {true_positive: 180, "
        "false_positive: -20, false_negative: -200}; reported per 1000 predictions.",
    )
    explain: bool = Field(
        default=True,
        description="SHAP global importance of each input column (needs headway[explain]).",
    )
    behaviour: bool = Field(
        default=True,
        description="Behavioural checks: determinism, invariance, monotonicity, edge rows.",
    )
    invariant_columns: list[str] = Field(
        default_factory=list,
        description="Columns whose values must not change a prediction (permuted to check).",
    )
    monotonic: dict[str, Literal["increasing", "decreasing"]] = Field(
        default_factory=dict,
        description="Numeric columns whose rise must raise (or lower) the score.",
    )
    bootstrap: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="Bootstrap resamples for the intervals (of the metrics and the fairness gaps).",
    )
