"""Runs of a project's experiment, as summaries for listing and comparing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from headway.exceptions import RegistryError
from headway.registry import layout
from headway.registry.tracking import PARENT_RUN_TAG

__all__ = ["RunSummary", "get_run", "list_runs"]


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    name: str
    status: str
    start_time_ms: int
    parent_id: str | None
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "start_time_ms": self.start_time_ms,
            "parent_id": self.parent_id,
            "params": self.params,
            "metrics": self.metrics,
            "blessed": self.tags.get(layout.BLESSED.name),
            "dataset_hash": self.tags.get(layout.DATASET_HASH.name),
        }


def _summary(run: Any) -> RunSummary:
    return RunSummary(
        run_id=run.info.run_id,
        name=run.info.run_name or "",
        status=run.info.status,
        start_time_ms=int(run.info.start_time or 0),
        parent_id=run.data.tags.get(PARENT_RUN_TAG),
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
    )


def list_runs(client: MlflowClient, experiment: str) -> list[RunSummary]:
    """Every run of ``experiment``, newest first (pipeline runs and their trials)."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    runs = client.search_runs([found.experiment_id], max_results=5000, order_by=["start_time DESC"])
    return [_summary(r) for r in runs]


def get_run(client: MlflowClient, run_id: str) -> RunSummary:
    """One run; a unique prefix of its id is not accepted (MLflow ids are exact).

    Raises:
        RegistryError: no such run.
    """
    try:
        return _summary(client.get_run(run_id))
    except MlflowException as exc:
        raise RegistryError(
            f"no run {run_id!r}; list them with 'headway runs --project DIR'"
        ) from exc
