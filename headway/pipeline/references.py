"""The monitoring reference of a version: built at registration, or later on demand.

:func:`build_for_model` runs inside ``headway run`` (the training and validation
partitions are at hand); :func:`load_reference` reads a version's reference from its run,
and for a version registered before references existed builds it from the version's
dataset snapshot (split as the run split it) and logs it to the run, once.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from headway.artifacts import TrainedModel
from headway.config import ProjectConfig, load_config
from headway.data import DatasetStore, split
from headway.data.split import Split
from headway.evaluation.metrics import predict_scores
from headway.exceptions import RegistryError
from headway.features import feature_frame, feature_types_of
from headway.monitoring.reference import Reference, build_reference
from headway.pipeline.snapshots import fetch_snapshot
from headway.project import Project
from headway.registry import ModelRegistry, TrackedRun, layout

__all__ = ["build_for_model", "load_reference", "log_reference", "registered_model"]

logger = logging.getLogger(__name__)


def build_for_model(
    model: TrainedModel,
    parts: Split,
    cfg: ProjectConfig,
    *,
    importance: dict[str, float] | None = None,
    metrics: dict[str, float] | None = None,
) -> Reference:
    """The reference of a freshly trained ``model`` from its training and validation rows."""
    frame = pd.concat([parts.train, parts.valid], ignore_index=True)
    partition = np.asarray(["train"] * len(parts.train) + ["valid"] * len(parts.valid))
    scores = predict_scores(model, feature_frame(frame, model), cfg.task)
    return build_reference(
        frame,
        task=cfg.task,
        features=list(model.feature_columns),
        categorical=list(model.categorical_columns),
        target=cfg.data.target,
        scores=scores,
        partition=partition,
        classes=list(model.classes) if model.classes is not None else None,
        threshold=model.threshold,
        importance=importance,
        metrics=metrics,
        sample_rows=cfg.monitoring.sample_rows,
        seed=cfg.seed,
    )


def registered_model(estimator: Any, tags: dict[str, str], metric: str) -> TrainedModel:
    """A registered version's estimator as a :class:`TrainedModel` (its input contract,
    classes and threshold read back from the estimator, its family from the version's tags),
    for the stages that take one: evaluation, gates, the monitoring reference."""
    types = feature_types_of(estimator)
    return TrainedModel(
        family=tags.get(layout.FAMILY.name, "unknown"),
        params={},
        metric=metric,
        valid_score=float("nan"),
        n_trials=0,
        feature_columns=types.columns,
        categorical_columns=types.categorical,
        classes=tuple(estimator.classes_) if hasattr(estimator, "classes_") else None,
        threshold=getattr(estimator, "threshold", None),
        estimator=estimator,
    )


def log_reference(run: TrackedRun, reference: Reference) -> None:
    """Write ``reference`` to the run's declared artifacts."""
    run.log_text(reference.to_json(), layout.REFERENCE.path)
    run.log_table(reference.sample, layout.REFERENCE_SAMPLE.path)


def _read(registry: ModelRegistry, run_id: str) -> Reference | None:
    with tempfile.TemporaryDirectory() as tmp:
        sketches = registry.download_run_artifact(run_id, layout.REFERENCE.path, tmp)
        if sketches is None:
            return None
        sample = registry.download_run_artifact(run_id, layout.REFERENCE_SAMPLE.path, tmp)
        return Reference.from_files(
            Path(sketches).read_text(encoding="utf-8"),
            Path(sample).read_bytes() if sample is not None else None,
        )


def load_reference(project: Project, name: str, version: str) -> Reference:
    """The reference of ``name`` version ``version``; built from the version's dataset
    snapshot (and logged to its run) when it was registered without one.

    Raises:
        ModelNotFoundError: no such version.
        RegistryError: the version has no headway lineage, so no reference can be built.
        DataError: its dataset snapshot is neither here nor on the tracking server.
    """
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    info = registry.get_version(name, version)
    if not info.run_id:
        raise RegistryError(f"{name}/{version} has no run: it was not registered by headway run")
    found = _read(registry, info.run_id)
    if found is not None:
        return found
    logger.info("building the monitoring reference of %s/%s from its snapshot", name, version)
    reference = _rebuild(project, registry, name, version, info.run_id, info.tags)
    run = TrackedRun(registry.client, info.run_id, experiment_id="")
    log_reference(run, reference)
    return reference


def _rebuild(
    project: Project,
    registry: ModelRegistry,
    name: str,
    version: str,
    run_id: str,
    tags: dict[str, str],
) -> Reference:
    if not tags.get(layout.DATASET_HASH.name):
        raise RegistryError(
            f"{name}/{version} has no headway lineage tags, so its reference cannot be built; "
            "retrain it with 'headway run'"
        )
    store = DatasetStore(project.datasets_dir)
    frame = store.load_frame(fetch_snapshot(registry, store, tags))
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_run_artifact(run_id, layout.CONFIG_FILE.path, tmp)
        config = load_config(Path(path)) if path is not None else project.config
        recorded = registry.download_run_artifact(run_id, layout.SPLIT.path, tmp)
        scheme = "legacy"
        if recorded is not None:
            scheme = json.loads(Path(recorded).read_text(encoding="utf-8")).get("scheme", scheme)
        evaluation = registry.download_run_artifact(run_id, layout.EVALUATION.path, tmp)
        importance: dict[str, float] = {}
        if evaluation is not None:
            importance = json.loads(Path(evaluation).read_text(encoding="utf-8")).get(
                "importance", {}
            )
    parts = split(
        frame,
        data=config.data,
        config=config.split,
        task=config.task,
        seed=config.seed,
        scheme="stable" if scheme == "stable" else "legacy",
        missing_timestamps="exclude",
    )
    estimator = registry.load_estimator(f"models:/{name}/{version}")
    model = registered_model(estimator, tags, config.metric)
    prefix = layout.METRIC.name
    metrics = {
        key[len(prefix) :]: float(value) for key, value in tags.items() if key.startswith(prefix)
    }
    return build_for_model(model, parts, config, importance=importance, metrics=metrics)
