"""A point-in-time training set for ``headway run``: the entity table of ``data.source``
with the features of ``features.service`` as of each row's timestamp.

The table then goes through the pipeline like any other (validated, versioned); its
dataset version's source names the service, the definitions' hash and the entity table's
content, and the registered version's lineage tags name the service, the definitions'
hash and each view's source version (the content hash of its files).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from headway.config import SourceConfig
from headway.data.sources import frame_hash, locate, read_source
from headway.exceptions import ConfigError
from headway.features.definitions import load_definitions
from headway.features.pit import historical_features
from headway.project import Project

__all__ = ["TrainingSet", "build_training_set"]


@dataclass(frozen=True)
class TrainingSet:
    """The joined table and its lineage."""

    frame: pd.DataFrame
    source_uri: str
    lineage: dict[str, str] = field(default_factory=dict)


def _view_versions(
    definitions_root: Path, views: list[tuple[str, str, str | None]]
) -> dict[str, str]:
    versions: dict[str, str] = {}
    for name, kind, path in views:
        if kind == "sql" or path is None:
            versions[name] = "sql"
            continue
        files = locate(SourceConfig(type=kind, path=path), root=definitions_root)  # type: ignore[arg-type]
        versions[name] = files.content_hash[:16] if files else "sql"
    return versions


def build_training_set(project: Project) -> TrainingSet:
    """Join the service's features onto the entity table (see the module).

    Raises:
        ConfigError: ``features.yaml`` is missing or invalid, or the service is unknown.
        DataError: the entity table or a view's source cannot be read or lacks a column.
    """
    cfg = project.config
    service = cfg.features.service
    if service is None:
        raise ConfigError("features.service is not set: name the feature service to train on")
    definitions = load_definitions(project.root / cfg.features.definitions)
    try:
        chosen = definitions.resolve(service)
    except ValueError as exc:
        raise ConfigError(f"features.service: {exc}") from exc
    files = locate(cfg.data.source, root=project.root)
    entities = read_source(cfg.data.source, root=project.root, files=files)
    joined = historical_features(
        entities,
        definitions,
        service,
        root=project.root,
        timestamp_column=cfg.features.entity_timestamp_column,
    )
    digest = definitions.content_hash()
    entity_hash = (files.content_hash if files else frame_hash(entities))[:16]
    versions = _view_versions(
        project.root, [(v.name, v.source.type, v.source.path) for v, _ in chosen]
    )
    return TrainingSet(
        frame=joined,
        source_uri=f"features://{service}?definitions={digest}&entities={entity_hash}",
        lineage={
            "feature_service": service,
            "feature_definitions_hash": digest,
            "feature_sources": json.dumps(versions, sort_keys=True),
        },
    )
