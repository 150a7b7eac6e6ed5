"""``headway reproduce``: retrain a registered version from its lineage and compare predictions.

The dataset snapshot (by content hash; downloaded from the tracking server when this
machine lacks it, see :mod:`headway.pipeline.snapshots`), the project file logged with the
run and the winning trial's parameters (``search/best_trial.json``) are enough to fit the
same model again: the search itself is not re-run (parallel workers finish trials in an
order that depends on the machine's load), the winner is fitted again exactly as the run
fitted it. The reproduction is judged by the predictions of both models on the same test
rows. Nothing is registered.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from mlflow.exceptions import MlflowException

from headway.config import load_config
from headway.data import DatasetStore, split
from headway.evaluation.metrics import predict_scores
from headway.exceptions import RegistryError
from headway.features import feature_frame
from headway.pipeline.snapshots import fetch_snapshot
from headway.project import Project
from headway.registry import ModelRegistry, layout
from headway.training.stage import train_model

__all__ = ["ReproductionReport", "reproduce"]


@dataclass(frozen=True)
class ReproductionReport:
    """How a retrained model compares with the registered one on the same test rows."""

    name: str
    version: str
    dataset_hash: str
    n_trials: int
    family: str
    reproduced_family: str
    n_rows: int
    max_abs_diff: float
    identical: bool

    @property
    def matches(self) -> bool:
        """Same family and predictions equal up to floating-point noise (1e-9)."""
        return self.family == self.reproduced_family and self.max_abs_diff <= 1e-9


def reproduce(project: Project, name: str, version: str) -> ReproductionReport:
    """Retrain ``name`` version ``version`` from its recorded lineage and compare.

    Raises:
        ModelNotFoundError: no such version.
        RegistryError: the version lacks the lineage needed (dataset hash, run files).
        DataError: the dataset snapshot is neither in this project's dataset store nor in
            the tracking server's artifact store.
    """
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    info = registry.get_version(name, version)
    dataset_hash = info.tags.get(layout.DATASET_HASH.name)
    if not dataset_hash or not info.run_id:
        raise RegistryError(
            f"{name}/{version} has no headway lineage tags: it was not trained by headway run"
        )
    store = DatasetStore(project.datasets_dir)
    frame = store.load_frame(fetch_snapshot(registry, store, info.tags))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = registry.client.download_artifacts(info.run_id, layout.CONFIG_FILE.path, tmp)
        except MlflowException as exc:
            raise RegistryError(
                f"run {info.run_id} of {name}/{version} has no {layout.CONFIG_FILE.path}"
            ) from exc
        config = load_config(Path(path))
        try:
            best = registry.client.download_artifacts(info.run_id, layout.BEST_TRIAL.path, tmp)
        except MlflowException as exc:
            raise RegistryError(
                f"run {info.run_id} of {name}/{version} has no {layout.BEST_TRIAL.path}: it was "
                "trained by an older headway; retrain it with 'headway run'"
            ) from exc
        replay = json.loads(Path(best).read_text(encoding="utf-8"))["search_params"]
        recorded = registry.download_run_artifact(info.run_id, layout.SPLIT.path, tmp)
        # Versions trained before the split was recorded with its scheme used headway
        # 0.1's split; reproduce it so that the refit sees the same rows.
        scheme = "legacy"
        if recorded is not None:
            scheme = json.loads(Path(recorded).read_text(encoding="utf-8")).get("scheme", scheme)
    n_trials = int(registry.client.get_run(info.run_id).data.metrics.get("n_trials", 0))
    parts = split(
        frame,
        data=config.data,
        config=config.split,
        task=config.task,
        seed=config.seed,
        scheme="stable" if scheme == "stable" else "legacy",
        # The run either had no such row or left it out (it never trains on one).
        missing_timestamps="exclude",
    )
    model = train_model(config, frame, parts, replay=replay)
    original = registry.load_estimator(f"models:/{name}/{version}")
    rows = feature_frame(parts.test, model)
    before = predict_scores(original, rows, config.task)
    after = predict_scores(model, rows, config.task)
    diff = float(np.max(np.abs(before - after))) if before.size else 0.0
    return ReproductionReport(
        name=name,
        version=version,
        dataset_hash=dataset_hash,
        n_trials=n_trials,
        family=info.tags.get(layout.FAMILY.name, model.family),
        reproduced_family=model.family,
        n_rows=len(rows),
        max_abs_diff=diff,
        identical=bool(np.array_equal(before, after)),
    )
