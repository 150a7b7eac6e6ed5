"""Dataset snapshots in the tracking server's artifact store, for work from another machine.

A dataset version's snapshot lives in the project's ``.headway/datasets``. With a shared
tracking server (``mlflow.dataset_snapshots``: ``auto`` when a tracking URI is set, or
``always``) the first run on a version also logs the version's directory under its
artifacts (``data/snapshot/``) and every run and model version on it records that run's
id (``headway.snapshot_run``); later runs on the same version find it and log nothing. The
server's artifact store may itself be an object store (``mlflow server
--artifacts-destination s3://...``): that is where the files then live.

``headway reproduce`` and ``headway lineage`` on a machine without the snapshot download
it from that run into their own dataset store (:func:`fetch_snapshot`).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from headway.artifacts import DatasetVersion
from headway.data import DatasetStore
from headway.data.versions import SNAPSHOT_FILES
from headway.exceptions import DataError
from headway.project import Project
from headway.registry import ModelRegistry, layout
from headway.registry.tracking import TrackedRun

__all__ = ["fetch_snapshot", "publish_snapshot", "publishes_snapshots"]

logger = logging.getLogger(__name__)

_FOLDER = layout.SNAPSHOT.path.rsplit("/", 1)[0]


def publishes_snapshots(project: Project) -> bool:
    """Whether runs of ``project`` log dataset snapshots to the tracking server."""
    mode = project.config.mlflow.dataset_snapshots
    return mode == "always" or (mode == "auto" and not project.uses_embedded_store)


def _holder(
    registry: ModelRegistry, experiment_id: str, version: DatasetVersion, name: str
) -> str | None:
    """The run of the experiment that logged the snapshot directory ``name``, if any."""
    runs = registry.client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{layout.DATASET_HASH.name}` = '{version.content_hash}'",
        max_results=200,
    )
    for found in runs:
        tags = found.data.tags
        if tags.get(layout.SNAPSHOT_RUN.name) != found.info.run_id:
            continue
        if Path(tags.get(layout.SNAPSHOT_URI.name, "")).parent.name != name:
            continue
        files = registry.client.list_artifacts(found.info.run_id, _FOLDER)
        logged = {Path(f.path).name for f in files}
        if set(SNAPSHOT_FILES) <= logged:
            return found.info.run_id
    return None


def publish_snapshot(
    registry: ModelRegistry,
    run: TrackedRun,
    experiment_id: str,
    store: DatasetStore,
    version: DatasetVersion,
) -> str:
    """Make ``version``'s snapshot reachable through the tracking server; returns the id of
    the run whose artifacts hold it (``run`` itself when no earlier run logged it)."""
    directory = store.directory(version)
    holder = _holder(registry, experiment_id, version, directory.name)
    if holder is not None:
        logger.info("dataset %s: snapshot already logged by run %s", version.short_hash, holder)
        return holder
    for name in SNAPSHOT_FILES:
        run.log_file(directory / name, directory=_FOLDER)
    return run.run_id


def fetch_snapshot(
    registry: ModelRegistry, store: DatasetStore, tags: dict[str, str]
) -> DatasetVersion:
    """The dataset version a model version (``tags``) was trained on, from ``store`` or,
    when it is not there, downloaded from the run that logged it into ``store``.

    Raises:
        DataError: the version is in neither place, with the fix.
    """
    content_hash = tags.get(layout.DATASET_HASH.name, "")
    schema_hash = tags.get(layout.SCHEMA_HASH.name)
    try:
        return store.get(content_hash, schema_hash=schema_hash)
    except DataError as missing:
        holder = tags.get(layout.SNAPSHOT_RUN.name)
        if not holder:
            raise DataError(
                f"{missing}. Its training run did not log the snapshot to the tracking "
                "server: run this on the machine that trained it, or set "
                "mlflow.dataset_snapshots: always (auto does it whenever a tracking URI is "
                "set) so that later runs do"
            ) from None
    with tempfile.TemporaryDirectory(prefix="headway-snapshot-") as tmp:
        got = registry.download_run_artifact(holder, _FOLDER, tmp)
        if got is None or not all((Path(got) / name).is_file() for name in SNAPSHOT_FILES):
            raise DataError(
                f"dataset version {content_hash[:12]}: run {holder} lacks {_FOLDER}/ in the "
                "tracking server's artifact store (was the run deleted?); retrain with "
                "'headway run'"
            )
        version = store.adopt(Path(got))
    logger.info("dataset %s: snapshot downloaded from run %s", version.short_hash, holder)
    return store.get(content_hash, schema_hash=schema_hash)
