"""``training``: the model search, its budget, executor, weights, calibration and threshold."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from headway.config._base import Section
from headway.tasks import HIGHER_IS_BETTER

__all__ = ["CostConfig", "Family", "TrainingBudget", "TrainingConfig"]


Family = Literal["lightgbm", "xgboost", "linear", "random_forest", "extra_trees"]


class TrainingBudget(Section):
    """Limits on the hyper-parameter search; whichever is reached first stops it."""

    trials: int = Field(default=20, ge=1, le=10_000)
    timeout_seconds: float = Field(default=60.0, gt=0)


class CostConfig(Section):
    """What each kind of error costs (any currency), for ``training.threshold: cost``."""

    false_positive: float = Field(ge=0, description="Cost of acting on a wrong alarm.")
    false_negative: float = Field(ge=0, description="Cost of missing a positive.")


class TrainingConfig(Section):
    """Model search settings."""

    metric: str | None = Field(
        default=None,
        description="Primary metric; defaults to roc_auc (binary), f1_macro (multiclass), rmse.",
    )
    budget: TrainingBudget = Field(default_factory=TrainingBudget)
    model_families: list[Family] | None = Field(
        default=None,
        min_length=1,
        description="Families searched in one study; the best trial's family wins. "
        "Default: every installed family.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local", description="Where trials run: local processes, or Ray."
    )
    n_workers: int | Literal["auto"] = Field(
        default="auto", description="Trials run at once; auto = one per CPU (at most trials)."
    )
    ray_address: str | None = Field(
        default=None, description="Ray cluster address (executor: ray); local Ray when omitted."
    )
    optuna_storage: str | None = Field(
        default=None,
        description="Optuna storage URL shared by the workers (needed for a remote Ray "
        "cluster); a temporary journal file when omitted. HEADWAY_OPTUNA_STORAGE overrides "
        "it: give a URL with a password there, not in the file.",
    )
    warm_start: bool = Field(
        default=True,
        description="Start the search from a portfolio of configurations that do well "
        "across tables, cheapest first",
    )
    refit: bool = Field(
        default=False,
        description="Holdout: refit the winner on train + validation rows at the end.",
    )
    class_weight: Literal["auto", "balanced", "none"] = Field(
        default="auto",
        description="Classification: auto lets the search try balanced weights when a "
        "class is under 20% of rows.",
    )
    calibration: Literal["auto", "none", "sigmoid", "isotonic"] = Field(
        default="auto",
        description="Binary: calibrate probabilities on the validation rows; auto keeps "
        "calibration only when it lowers the cross-validated log loss.",
    )
    threshold: Literal["f1", "cost", "none"] = Field(
        default="f1",
        description="Binary decision threshold chosen on validation rows: best F1, lowest "
        "cost (training.costs), or none (0.5 on the probability).",
    )
    costs: CostConfig | None = Field(default=None, description="Error costs for threshold: cost.")
    validation: Literal["auto", "holdout", "cv"] = Field(
        default="auto",
        description="How trials are scored: on the validation split (holdout), by k-fold "
        "cross-validation over train+validation (cv), or cv for small tables (auto).",
    )
    cv_folds: int = Field(default=5, ge=2, le=20)
    cv_max_rows: int = Field(
        default=10_000, ge=0, description="auto uses cv up to this many train+validation rows"
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str | None) -> str | None:
        if value is not None and value not in HIGHER_IS_BETTER:
            raise ValueError(f"unknown metric {value!r}; choose one of {sorted(HIGHER_IS_BETTER)}")
        return value

    @field_validator("n_workers")
    @classmethod
    def _positive_workers(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 1:
            raise ValueError("training.n_workers must be at least 1, or 'auto'")
        return value

    @model_validator(mode="after")
    def _costs_for_cost_threshold(self) -> TrainingConfig:
        if self.threshold == "cost" and self.costs is None:
            raise ValueError(
                "training.threshold 'cost' needs training.costs: "
                "{false_positive: ..., false_negative: ...}"
            )
        return self
