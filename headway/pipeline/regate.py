"""``headway gate --candidate``: re-evaluate a registered version on today's data and gate it."""

from __future__ import annotations

import pandas as pd

from headway.artifacts import Blessing, EvaluationReport
from headway.controlplane import AuditLog
from headway.data import DatasetStore, ingest_and_validate
from headway.data.split import row_identity
from headway.evaluation import evaluate
from headway.gates import gate
from headway.pipeline.references import registered_model
from headway.pipeline.run import split_dataset
from headway.project import Project
from headway.registry import ModelRegistry

__all__ = ["gate_version"]


def gate_version(
    project: Project, name: str, version: str, *, actor: str | None = None
) -> tuple[EvaluationReport, Blessing]:
    """Re-evaluate a registered version on the project's current data, and gate it against
    the current champion (itself judged on its bounds alone). Aliases do not move; the
    decision is recorded in the audit log.

    Raises:
        ModelNotFoundError: no such version.
        DataError: the current data cannot be read or fails validation.
    """
    cfg = project.config
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    info = registry.get_version(name, version)
    estimator = registry.load_estimator(f"models:/{name}/{version}")
    dataset = ingest_and_validate(
        cfg.data, task=cfg.task, root=project.root, store=DatasetStore(project.datasets_dir)
    )
    parts = split_dataset(dataset, cfg)
    history = pd.concat([parts.train, parts.valid, parts.test])
    if cfg.task == "forecast":
        from headway.features.forecast import refresh_history

        estimator = refresh_history(estimator, history)
    model = registered_model(estimator, info.tags, cfg.metric)
    evaluation, scores = evaluate(
        model, parts.test, target=cfg.data.target, task=cfg.task, metric=cfg.metric,
        seed=cfg.seed, config=cfg.evaluation,
    )  # fmt: skip
    blessing = gate(
        evaluation,
        scores,
        candidate_threshold=model.threshold,
        classes=model.classes,
        registry=registry,
        model_name=name,
        test=parts.test,
        task=cfg.task,
        target=cfg.data.target,
        config=cfg.gates,
        seed=cfg.seed,
        history=history,
        exclude_version=version,
        test_keys=row_identity(parts.test, cfg.data),
    )
    with AuditLog.for_project(project) as audit:
        audit.record(
            "blessed" if blessing.blessed else "not_blessed",
            model=name,
            version=version,
            actor=actor,
            reason="; ".join(blessing.reasons),
            details={
                "on_demand": True,
                "dataset_hash": dataset.version.content_hash,
                "failed_checks": [c["name"] for c in blessing.failed_checks],
            },
        )
    return evaluation, blessing
