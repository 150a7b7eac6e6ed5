"""``automation``: the autopilot's triggers, retraining and progressive rollout.

Off unless ``automation.enabled`` is true: then ``headway autopilot`` watches the project,
retrains when a trigger fires, and rolls a blessed retrained version out through
``rollout.steps`` (see docs/concepts.md, "Autopilot").
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from headway.config._base import Section
from headway.config.monitoring import duration

__all__ = [
    "AutomationConfig",
    "GuardrailConfig",
    "RetrainConfig",
    "RolloutConfig",
    "RolloutStep",
    "TriggerConfig",
]

OnlineMetric = Literal["auto", "brier", "accuracy", "absolute_error", "squared_error"]


def _check_cron(text: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(text):
        raise ValueError(
            f"triggers.schedule: {text!r} is not a cron expression (five fields: minute hour "
            "day-of-month month day-of-week, e.g. '0 3 * * 1' for Mondays at 03:00 UTC)"
        )
    return text


class TriggerConfig(Section):
    """What starts a retraining. Every trigger is off unless set."""

    schedule: str | None = Field(
        default=None,
        description="Cron expression in UTC (e.g. '0 3 * * 1'): retrain at these times.",
    )
    volume: int | None = Field(
        default=None,
        ge=1,
        description="Retrain once this many labelled rows arrived since the champion was trained.",
    )
    drift: bool = Field(
        default=True,
        description="Retrain when the latest window headway monitor stored for the champion "
        "shows dataset drift.",
    )
    performance: bool = Field(
        default=True,
        description="Retrain when that window's realised (or, before labels, estimated) "
        "performance alarmed.",
    )

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        return None if value is None else _check_cron(value)


class RetrainConfig(Section):
    """What a retraining trains on: the champion's training data plus labelled log rows."""

    window: str = Field(
        default="30d",
        description="Labelled predictions of at most this age (and made after the champion "
        "was trained) join the champion's training data.",
    )
    min_new_rows: int = Field(
        default=100,
        ge=1,
        description="A trigger fires no retraining with fewer new labelled rows than this.",
    )
    max_history_rows: int | None = Field(
        default=None,
        ge=1,
        description="Keep at most this many rows of the champion's training data (the "
        "latest); null keeps them all. Lower it to let new rows weigh more after a "
        "concept shift.",
    )

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        duration(value, "retrain.window")
        return value


class RolloutStep(Section):
    """One step of a progressive rollout."""

    mode: Literal["shadow", "canary"] = Field(
        description="shadow: the candidate scores every request, the champion answers; "
        "canary: the candidate answers a share of requests."
    )
    weight: float = Field(
        default=0.0, ge=0, le=1, description="The candidate's share under canary."
    )
    min_rows: int = Field(
        default=200,
        ge=1,
        description="Rows the candidate scores in this step before it may advance.",
    )

    @model_validator(mode="after")
    def _weight_fits_mode(self) -> RolloutStep:
        if self.mode == "shadow" and self.weight != 0:
            raise ValueError("rollout.steps: a shadow step takes no weight (it answers nothing)")
        if self.mode == "canary" and not 0 < self.weight < 1:
            raise ValueError(
                f"rollout.steps: a canary step needs 0 < weight < 1, got {self.weight}; the "
                "last step is followed by the promotion"
            )
        return self


def _default_steps() -> list[RolloutStep]:
    return [
        RolloutStep(mode="shadow", min_rows=200),
        RolloutStep(mode="canary", weight=0.05, min_rows=100),
        RolloutStep(mode="canary", weight=0.25, min_rows=200),
        RolloutStep(mode="canary", weight=0.5, min_rows=200),
    ]


class GuardrailConfig(Section):
    """Operational limits on the candidate; a breach rolls it back at once."""

    max_error_rate: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="Share of the candidate's requests that failed or fell back "
        "(needs rollout.metrics_urls).",
    )
    max_latency_ratio: float = Field(
        default=3.0,
        gt=1,
        description="Candidate p99 latency over champion p99 latency, from the prediction log.",
    )
    max_prediction_shift: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Jensen-Shannon distance between the candidate's and the champion's "
        "predictions on the same traffic.",
    )
    latency_floor_ms: float = Field(
        default=50.0,
        ge=0,
        description="The latency guardrail applies only above this candidate p99: a few "
        "milliseconds more are noise, not a failure.",
    )
    min_rows: int = Field(
        default=100, ge=1, description="Rows per version before the guardrails are checked."
    )


class RolloutConfig(Section):
    """How a blessed retrained version reaches all the traffic."""

    strategy: Literal["progressive", "ab", "direct"] = Field(
        default="progressive",
        description="progressive: the steps below, then promote on evidence; ab: a fixed "
        "split for ab_duration, then a report; direct: promote at once (gates only).",
    )
    steps: list[RolloutStep] = Field(default_factory=_default_steps)
    metric: OnlineMetric = Field(
        default="auto",
        description="Per-row online metric compared once labels arrive; auto = brier "
        "(binary), accuracy (multiclass) or absolute_error (regression, forecast).",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=0.5,
        description="Chance of a wrong promotion or a wrong rollback when the two versions "
        "are equally good, however often the controller looks.",
    )
    min_effect: float = Field(
        default=0.02,
        gt=0,
        description="The smallest difference worth detecting, in the metric's units: the "
        "scale of the test's normal mixture (tau).",
    )
    min_labels: int = Field(
        default=100, ge=2, description="Labelled rows per version before the test speaks."
    )
    max_labels: int = Field(
        default=20_000,
        ge=10,
        description="Labelled rows of the candidate after which an undecided rollout ends.",
    )
    max_duration: str = Field(
        default="7d",
        description="A rollout older than this ends undecided; also the evidence window "
        "after a controller restart.",
    )
    on_inconclusive: Literal["keep", "promote"] = Field(
        default="keep",
        description="When a rollout ends undecided: keep the champion, or promote the "
        "candidate (no evidence of harm is enough).",
    )
    guardrails: GuardrailConfig = Field(default_factory=GuardrailConfig)
    metrics_urls: list[str] = Field(
        default_factory=list,
        description="Base URLs of the prediction servers whose /metrics the error-rate "
        "guardrail reads (e.g. http://127.0.0.1:8080).",
    )
    ab_weight: float = Field(default=0.5, gt=0, lt=1, description="Candidate share under ab.")
    ab_entity_column: str | None = Field(
        default=None, description="Column that keeps an entity on one version under ab."
    )
    ab_duration: str = Field(default="7d", description="How long an ab rollout runs.")

    @field_validator("max_duration", "ab_duration")
    @classmethod
    def _durations(cls, value: str) -> str:
        duration(value, "rollout duration")
        return value

    @model_validator(mode="after")
    def _fits(self) -> RolloutConfig:
        if self.strategy == "progressive" and not self.steps:
            raise ValueError("rollout.steps: a progressive rollout needs at least one step")
        if self.strategy == "ab" and not self.ab_entity_column:
            raise ValueError(
                "rollout.ab_entity_column is required with strategy ab: the column that "
                "keeps one entity on one version, e.g. customer_id"
            )
        return self


class AutomationConfig(Section):
    """The autopilot: triggers, retraining, progressive rollout."""

    enabled: bool = Field(
        default=False,
        description="Let headway autopilot retrain and roll out this project's model.",
    )
    interval: str = Field(
        default="30s", description="How often the controller looks (headway autopilot)."
    )
    cooldown: str = Field(
        default="1h",
        description="After a retraining, no trigger fires again for this long.",
    )
    lease: str = Field(
        default="2m",
        description="How long a controller holds the project's lease without renewing it; "
        "another controller takes over after that.",
    )
    triggers: TriggerConfig = Field(default_factory=TriggerConfig)
    retrain: RetrainConfig = Field(default_factory=RetrainConfig)
    rollout: RolloutConfig = Field(default_factory=RolloutConfig)

    @field_validator("interval", "cooldown", "lease")
    @classmethod
    def _durations(cls, value: str) -> str:
        duration(value, "automation duration")
        return value
