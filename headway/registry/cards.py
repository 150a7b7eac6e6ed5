"""Model cards, the collecting side: the facts of one model version gathered from the
registry (aliases and tags, which carry the approval state), the run that trained it (the
evaluation, gate, data and training records the pipeline logged) and the audit log.

Rendering the card, as Markdown and as HTML, is :func:`headway.reports.render_model_card`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from headway.registry import layout
from headway.reports import render_model_card

if TYPE_CHECKING:
    from headway.controlplane import AuditLog
    from headway.registry.mlflow_registry import ModelRegistry

__all__ = ["collect_card", "model_card"]


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def collect_card(
    registry: Any, name: str, version: str, *, events: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Assemble the card of ``name``/``version`` from the registry (aliases and tags, which
    carry the approval state), its run (the evaluation, gate, data and training records
    the pipeline logged) and its audit ``events`` (as dicts, oldest first).

    Args:
        registry: a :class:`headway.registry.ModelRegistry`.

    Raises:
        ModelNotFoundError: no such version.
    """
    info = registry.get_version(name, version)
    tags = info.tags

    def tag(declared: layout.Tag) -> str | None:
        value: str | None = tags.get(declared.name)
        return value

    artifacts: dict[str, Any] = {}
    for key, declared in _CARD_ARTIFACTS.items():
        artifacts[key] = _run_json(registry, info.run_id, declared.path)
    config = _run_yaml(registry, info.run_id, layout.CONFIG_FILE.path)
    dataset = _map(artifacts["dataset"])
    split = _map(artifacts["split"])
    model = _map(artifacts["model"])
    training = _map(config.get("training"))
    created = datetime.fromtimestamp(info.created_at_ms / 1000, UTC) if info.created_at_ms else None
    return {
        "name": name,
        "version": version,
        "created_at": created.isoformat(timespec="seconds") if created else None,
        "task": tag(layout.TASK) or config.get("task"),
        "target": _map(config.get("data")).get("target"),
        "description": config.get("description"),
        "aliases": list(info.aliases),
        "status": {
            "blessed": info.blessed,
            "approval": tag(layout.APPROVAL),
            "approval_by": tag(layout.APPROVAL_BY),
            "approval_reason": tag(layout.APPROVAL_REASON),
            "approval_at": tag(layout.APPROVAL_AT),
            "archived": tag(layout.ARCHIVED) == "true",
        },
        "data": {
            "dataset_hash": dataset.get("content_hash") or tag(layout.DATASET_HASH),
            "n_rows": dataset.get("n_rows"),
            "columns": dataset.get("columns"),
            "source_uri": dataset.get("source_uri") or tag(layout.SOURCE_URI),
            "schema_hash": dataset.get("schema_hash") or tag(layout.SCHEMA_HASH),
            "period": split.get("period"),
            "split": {
                "strategy": split.get("strategy"),
                "train": split.get("n_train"),
                "valid": split.get("n_valid"),
                "test": split.get("n_test"),
            },
        },
        "training": {
            **{k: model.get(k) for k in _TRAINING_KEYS},
            "budget": training.get("budget"),
        },
        "evaluation": artifacts["evaluation"],
        "gates": artifacts["blessing"],
        "approvals": [dict(e) for e in events],
        "limitations": list(_seq(config.get("limitations"))),
        "lineage": {
            "run_id": info.run_id,
            "model_uri": f"models:/{name}/{version}",
            "dataset_hash": tag(layout.DATASET_HASH),
            "schema_hash": tag(layout.SCHEMA_HASH),
            "config_hash": tag(layout.CONFIG_HASH),
            "git_commit": tag(layout.GIT_COMMIT),
            "git_dirty": tag(layout.GIT_DIRTY),
            "packages": tag(layout.PACKAGES),
            "requires_headway": tag(layout.REQUIRES_HEADWAY),
        },
    }


_CARD_ARTIFACTS = {
    "evaluation": layout.EVALUATION,
    "blessing": layout.BLESSING,
    "dataset": layout.DATASET_VERSION,
    "split": layout.SPLIT,
    "model": layout.SEARCH_MODEL,
}
_TRAINING_KEYS = (
    "family",
    "params",
    "metric",
    "valid_score",
    "n_trials",
    "n_failed",
    "n_pruned",
    "leaderboard",
    "executor",
    "n_workers",
    "threshold",
    "calibration",
    "search_params",
)


def _run_json(registry: Any, run_id: str, path: str) -> Any:
    text = _run_text(registry, run_id, path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def _run_yaml(registry: Any, run_id: str, path: str) -> Mapping[str, Any]:
    import yaml

    text = _run_text(registry, run_id, path)
    try:
        loaded = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, Mapping) else {}


def _run_text(registry: Any, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or ``None`` when the run does not have it."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        local = registry.download_run_artifact(run_id, path, tmp)
        return Path(local).read_text(encoding="utf-8") if local is not None else None


def model_card(
    registry: ModelRegistry, audit: AuditLog, name: str, version: str
) -> tuple[str, str]:
    """The model card of ``name``/``version`` as it stands now (aliases, approvals and
    decisions included), as (Markdown, HTML).

    Raises:
        ModelNotFoundError: no such version.
    """
    events = [e.as_dict() for e in audit.events(model=name, version=version)]
    return render_model_card(collect_card(registry, name, version, events=events))
