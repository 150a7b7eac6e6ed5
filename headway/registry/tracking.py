"""Tracking without globals: an MLflow run written through an explicit ``MlflowClient``.

MLflow's fluent API (``mlflow.start_run``, ``mlflow.log_param``, ``mlflow.sklearn.log_model``)
keeps the tracking URI and the active run in process-wide state. A long-running process
that trains several projects at once (an autopilot retraining in a thread next to a server
reading the registry) cannot share that state, so every write here names its client (and
with it the tracking URI) and its run id.

Example:
    >>> client = MlflowClient(tracking_uri="sqlite:///p/.headway/mlflow.db")  # doctest: +SKIP
    >>> with TrackedRun.start(client, experiment_id="1", name="churn-run") as run:
    ...     run.log_params({"seed": 42})
    ...     run.log_dict({"rows": 10}, "data/split.json")
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking.context import registry as _context

from headway.exceptions import RegistryError

__all__ = ["PARENT_RUN_TAG", "TrackedRun"]

# MLflow's own tag naming a nested run's parent (what the UI and search use).
PARENT_RUN_TAG = "mlflow.parentRunId"
# Per-request limits of MLflow's log_batch.
_MAX_PARAMS, _MAX_TAGS, _MAX_METRICS = 100, 100, 1000


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class TrackedRun:
    """One MLflow run, written through ``client`` by run id.

    Use :meth:`start` to create one; as a context manager it ends the run ``FINISHED``, or
    ``FAILED`` when the block raises.

    Args:
        client: the client of the tracking store the run lives in.
        run_id: the run.
        experiment_id: its experiment.
    """

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id

    @classmethod
    def start(
        cls,
        client: MlflowClient,
        *,
        experiment_id: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        parent: TrackedRun | None = None,
    ) -> TrackedRun:
        """Create a running run in ``experiment_id`` (nested under ``parent`` if given).

        The run carries MLflow's context tags (user, source) like a fluent run does.

        Raises:
            RegistryError: the tracking store refused.
        """
        resolved = _context.resolve_tags(dict(tags or {}))
        if parent is not None:
            resolved[PARENT_RUN_TAG] = parent.run_id
        try:
            run = client.create_run(experiment_id, tags=resolved, run_name=name)
        except MlflowException as exc:
            raise RegistryError(
                f"cannot start a run in experiment {experiment_id}: {exc.message}"
            ) from exc
        return cls(client, run.info.run_id, experiment_id)

    def __enter__(self) -> TrackedRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish("FINISHED" if exc_type is None else "FAILED")

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED``, ``FAILED``, ``KILLED``)."""
        self.client.set_terminated(self.run_id, status=status)

    # -- values -------------------------------------------------------------------------

    def log_params(self, params: Mapping[str, object]) -> None:
        """Log parameters (values as strings), in batches of MLflow's size."""
        items = [Param(str(k), str(v)) for k, v in params.items()]
        for batch in _chunks(items, _MAX_PARAMS):
            self.client.log_batch(self.run_id, params=batch)

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        """Log metrics at step 0, in batches of MLflow's size."""
        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, 0) for k, v in metrics.items()]
        for batch in _chunks(items, _MAX_METRICS):
            self.client.log_batch(self.run_id, metrics=batch)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Set run tags (values as strings)."""
        items = [RunTag(str(k), str(v)) for k, v in tags.items()]
        for batch in _chunks(items, _MAX_TAGS):
            self.client.log_batch(self.run_id, tags=batch)

    # -- artifacts ----------------------------------------------------------------------

    def log_dict(self, value: Any, path: str) -> None:
        """Write ``value`` as JSON (``.json``) or YAML (``.yaml``) to the run's ``path``."""
        if path.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(value, sort_keys=False)
        else:
            text = json.dumps(value, indent=2)
        self.log_text(text, path)

    def log_text(self, text: str, path: str) -> None:
        """Write ``text`` (UTF-8) to the run's artifact ``path``."""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, Path(path).name)
            local.write_text(text, encoding="utf-8")
            self.log_file(local, directory=_parent(path))

    def log_table(self, table: Any, path: str) -> None:
        """Write a pandas DataFrame as Parquet to the run's artifact ``path``."""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, Path(path).name)
            table.to_parquet(local, index=False)
            self.log_file(local, directory=_parent(path))

    def log_figure(self, figure: Any, path: str) -> None:
        """Save a matplotlib ``figure`` to the run's artifact ``path`` (format by suffix)."""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp, Path(path).name)
            figure.savefig(local)
            self.log_file(local, directory=_parent(path))

    def log_file(self, local: str | Path, *, directory: str | None = None) -> None:
        """Copy a local file into the run's artifacts, under ``directory`` if given."""
        self.client.log_artifact(self.run_id, str(local), artifact_path=directory)


def _parent(path: str) -> str | None:
    parent = str(Path(path).parent)
    return None if parent in ("", ".") else parent
