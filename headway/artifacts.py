"""Frozen artifact records passed between the stages of the loop.

Each stage is a plain function ``stage(inputs..., *, config) -> Artifact``. Negative
decisions (a candidate not blessed) are artifacts too.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Blessing",
    "CheckResult",
    "DatasetVersion",
    "EvaluationReport",
    "ModelVersionRef",
    "PipelineResult",
    "TrainedModel",
    "ValidationReport",
    "to_dict",
]


def to_dict(artifact: Any) -> dict[str, Any]:
    """JSON-ready dict of an artifact, leaving out in-memory objects such as fitted models."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(artifact):
        if f.metadata.get("transient"):
            continue
        value = getattr(artifact, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = to_dict(value)
        elif isinstance(value, tuple | list):
            value = [
                to_dict(v) if dataclasses.is_dataclass(v) and not isinstance(v, type) else v
                for v in value
            ]
        out[f.name] = value
    return out


@dataclass(frozen=True)
class DatasetVersion:
    """One version of the input table, addressed by the hash of its content."""

    content_hash: str
    source_uri: str
    format: str
    n_rows: int
    columns: tuple[str, ...]
    dtypes: dict[str, str]
    schema_hash: str
    created_at: str
    snapshot_uri: str | None = None

    @property
    def short_hash(self) -> str:
        return self.content_hash[:12]


@dataclass(frozen=True)
class CheckResult:
    """One check of a validation: which, on what, with what outcome.

    ``severity`` is ``error`` (a failure stops the pipeline) or ``warn`` (reported only);
    ``n_failed`` counts failing values or rows, ``examples`` and ``rows`` show the first few.
    """

    name: str
    passed: bool
    message: str
    column: str | None = None
    severity: str = "error"
    n_failed: int = 0
    examples: tuple[str, ...] = ()
    rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class ValidationReport:
    """Outcome of validating a dataset version against the project's expectations."""

    dataset_hash: str
    checks: tuple[CheckResult, ...]
    schema_hash: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks if c.severity == "error")

    @property
    def failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.passed and c.severity == "warn"]

    def ordered(self) -> list[CheckResult]:
        """Errors first, then warnings, then passed checks (the order reports show)."""
        return sorted(self.checks, key=lambda c: (c.passed, c.severity != "error"))


@dataclass(frozen=True)
class TrainedModel:
    """The best model of a search, fitted, with what is needed to serve it."""

    family: str
    params: dict[str, Any]
    metric: str
    valid_score: float
    n_trials: int
    feature_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    classes: tuple[Any, ...] | None
    threshold: float | None
    estimator: Any = field(repr=False, compare=False, metadata={"transient": True})
    leaderboard: dict[str, float] = field(default_factory=dict)
    search_params: dict[str, Any] = field(default_factory=dict)
    calibration: str | None = None
    executor: str = "local"
    n_workers: int = 1
    n_failed: int = 0
    n_pruned: int = 0
    search_seconds: float = 0.0
    """Wall time of the search: from the study's creation until its workers stopped."""
    total_seconds: float = 0.0
    """Wall time of the whole training: search, final fit, calibration and threshold."""


@dataclass(frozen=True)
class EvaluationReport:
    """Metrics of a model on the held-out test split, with 95% bootstrap intervals, and
    what else the evaluation found: calibration error (binary), metrics per slice,
    business value per 1000 predictions, fairness per sensitive column, and the mean
    |SHAP| importance of each input column. ``notes`` say what was skipped and why."""

    metric: str
    higher_is_better: bool
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]]
    n_test: int
    calibration_error: float | None = None
    slices: tuple[dict[str, Any], ...] = ()
    business_value: dict[str, Any] | None = None
    fairness: tuple[dict[str, Any], ...] = ()
    importance: dict[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    behaviour: tuple[dict[str, Any], ...] = ()
    latency_p95_ms: float | None = None
    size_mb: float | None = None

    @property
    def flagged_slices(self) -> list[dict[str, Any]]:
        """Slices whose primary metric lags the overall value (see ``slices``)."""
        return [s for s in self.slices if s.get("flagged")]

    @property
    def primary(self) -> float:
        return self.metrics[self.metric]


@dataclass(frozen=True)
class Blessing:
    """The gate's decision on a candidate; ``blessed=False`` is recorded too.

    ``reasons`` are the checks in words; ``change`` is the paired-bootstrap change of the
    primary metric against the champion (estimate, 95% low, 95% high; positive = better).
    ``review`` says why a person must decide before a blessed candidate replaces the
    champion (e.g. the champion could not be compared on the same rows); governance then
    makes it ``challenger`` with approval pending, whatever the promotion policy.
    ``compared_rows`` is how many test rows the comparison used, after leaving out the
    ``dropped_rows`` the champion had trained on.
    """

    blessed: bool
    reasons: tuple[str, ...]
    metric: str
    candidate_value: float
    champion_version: str | None = None
    champion_value: float | None = None
    checks: tuple[dict[str, Any], ...] = ()
    change: tuple[float, float, float] | None = None
    review: str | None = None
    compared_rows: int | None = None
    dropped_rows: int = 0

    @property
    def failed_checks(self) -> list[dict[str, Any]]:
        """The checks that stopped the candidate (``checks``: name, passed, value, bound,
        detail)."""
        return [c for c in self.checks if not c["passed"]]


@dataclass(frozen=True)
class ModelVersionRef:
    """A version in the model registry."""

    name: str
    version: str
    run_id: str
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class PipelineResult:
    """Everything one ``headway run`` produced."""

    project: str
    dataset: DatasetVersion
    validation: ValidationReport
    model: TrainedModel
    evaluation: EvaluationReport
    blessing: Blessing
    version: ModelVersionRef
    run_id: str
    # As configured, for connecting to the store; kept out of the repr (it may hold a
    # password, and a result is printed in notebooks).
    tracking_uri: str = field(repr=False)
    duration_seconds: float
