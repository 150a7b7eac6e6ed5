"""Dataset versions are immutable: the same bytes validated under another schema get a
snapshot of their own, and stores written by headway 0.1 keep working."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

import pandas as pd
import pytest

from headway import DataError, load_config
from headway.artifacts import DatasetVersion
from headway.config import DataConfig, SourceConfig
from headway.data import DatasetStore, ingest_and_validate, load_schema
from headway.data.schema import write_schema
from headway.datasets import make_churn

NOW = datetime(2026, 11, 22, tzinfo=UTC)
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-0.1.0.tar.gz"
DATA = DataConfig(
    source=SourceConfig(path="data.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)


def _validate(root: Path, data: DataConfig = DATA, store: DatasetStore | None = None):
    store = store or DatasetStore(root / ".headway" / "datasets")
    return ingest_and_validate(data, task="binary", root=root, store=store, now=NOW)


def _set_category_policy(root: Path, policy: str) -> None:
    schema = load_schema(root / "schema.yaml")
    schema.checks.categories = policy  # type: ignore[assignment]
    write_schema(schema, root / "schema.yaml")


def _files(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in directory.iterdir()}


def _snapshot_dir(version: DatasetVersion) -> Path:
    assert version.snapshot_uri is not None
    return Path(url2pathname(urlparse(version.snapshot_uri).path)).parent


@pytest.fixture
def unseen_region(tmp_path: Path) -> Path:
    """A schema inferred from clean data, then a source with one region it never saw."""
    make_churn(600, seed=1).to_csv(tmp_path / "data.csv", index=False)
    _validate(tmp_path)
    frame = make_churn(600, seed=1)
    frame.loc[4, "region"] = "atlantis"
    frame.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path


def test_revalidating_the_same_bytes_under_a_new_schema_keeps_the_first_snapshot(
    unseen_region: Path,
) -> None:
    store = DatasetStore(unseen_region / ".headway" / "datasets")
    _set_category_policy(unseen_region, "warn")
    first = _validate(unseen_region).version
    first_dir = _snapshot_dir(first)
    before = _files(first_dir)

    _set_category_policy(unseen_region, "map")
    second = _validate(unseen_region).version

    assert second.content_hash == first.content_hash
    assert second.schema_hash != first.schema_hash
    assert _files(first_dir) == before  # not rewritten, not even touched
    assert second.snapshot_uri != first.snapshot_uri
    assert store.load_frame(first).loc[4, "region"] == "atlantis"
    assert store.load_frame(second).loc[4, "region"] == "unknown"
    assert store.report(first)[0].schema_hash == first.schema_hash
    assert store.report(second)[0].schema_hash == second.schema_hash

    mine = [v for v in store.versions() if v.content_hash == first.content_hash]
    assert mine == [second, first]  # newest first
    assert store.get(first.content_hash[:8]) == second  # the most recent one
    assert store.get(first.content_hash[:8], schema_hash=first.schema_hash) == first
    assert store.get(first.content_hash, schema_hash=second.schema_hash) == second
    with pytest.raises(DataError, match="no snapshot validated under schema 'ffffffffffffffff'"):
        store.get(first.content_hash[:8], schema_hash="ffffffffffffffff")

    # Back to the first schema: its snapshot is recognised and reused as it is.
    _set_category_policy(unseen_region, "warn")
    again = _validate(unseen_region)
    assert again.reused and again.version == first
    assert _files(first_dir) == before


def test_saving_a_version_twice_keeps_the_stored_one(unseen_region: Path) -> None:
    """The Python API skips the cache lookup; the store still never replaces a version."""
    store = DatasetStore(unseen_region / ".headway" / "datasets")
    frame = pd.read_csv(unseen_region / "data.csv")
    first = ingest_and_validate(DATA, task="binary", root=unseen_region, store=store, frame=frame)
    directory = _snapshot_dir(first.version)
    before = _files(directory)
    second = ingest_and_validate(DATA, task="binary", root=unseen_region, store=store, frame=frame)
    assert second.version == first.version
    assert _files(directory) == before
    assert not [p for p in store.root.iterdir() if p.name.startswith(".tmp-")]


@pytest.fixture
def legacy_project(tmp_path: Path) -> Path:
    """headway 0.1's churn project: ``.headway/datasets/<hash[:16]>/``, recorded elsewhere."""
    with tarfile.open(FIXTURE) as archive:
        members = [
            m
            for m in archive.getmembers()
            if m.name.startswith(("churn/data/", "churn/.headway/datasets/"))
            or m.name in ("churn/headway.yaml", "churn/schema.yaml")
        ]
        archive.extractall(tmp_path, members=members, filter="data")
    return tmp_path / "churn"


def test_a_0_1_store_keeps_working_and_is_never_rewritten(legacy_project: Path) -> None:
    store = DatasetStore(legacy_project / ".headway" / "datasets")
    (legacy_dir,) = [p for p in store.root.iterdir() if not p.name.startswith(".")]
    before = _files(legacy_dir)
    (old,) = store.versions()
    assert legacy_dir.name == old.content_hash[:16]
    assert store.get(old.content_hash[:6]) == old
    assert store.get(old.content_hash[:6], schema_hash=old.schema_hash) == old
    assert len(store.load_frame(old)) == old.n_rows
    assert store.report(old)[0].passed

    config = load_config(legacy_project / "headway.yaml")
    data = config.data
    reused = ingest_and_validate(data, task=config.task, root=legacy_project, store=store)
    assert reused.version == old

    assert reused.schema.checks.categories != "map"
    _set_category_policy(legacy_project, "map")
    new = ingest_and_validate(data, task=config.task, root=legacy_project, store=store).version
    assert new.content_hash == old.content_hash and new.schema_hash != old.schema_hash
    assert _files(legacy_dir) == before
    assert store.get(old.content_hash[:6]) == new
    assert store.get(old.content_hash[:6], schema_hash=old.schema_hash) == old
    pd.testing.assert_frame_equal(
        store.load_frame(old), pd.read_parquet(legacy_dir / "data.parquet")
    )
    assert len(store.load_frame(new)) == old.n_rows


def test_a_copied_version_directory_is_adopted_once(unseen_region: Path, tmp_path: Path) -> None:
    dataset = _validate(unseen_region)
    source_store = DatasetStore(unseen_region / ".headway" / "datasets")
    copied = source_store.directory(dataset.version)
    other = DatasetStore(tmp_path / "other" / "datasets")

    adopted = other.adopt(copied)
    assert adopted == dataset.version
    assert other.get(dataset.version.content_hash[:8]) == dataset.version
    pd.testing.assert_frame_equal(other.load_frame(adopted), source_store.load_frame(adopted))
    before = _files(other.directory(adopted))
    assert other.adopt(copied) == adopted  # already there: kept as it is
    assert _files(other.directory(adopted)) == before
    assert [p.name for p in other.root.iterdir()] == [copied.name]


def test_adopting_an_incomplete_directory_names_the_missing_files(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "data.parquet").write_bytes(b"")
    store = DatasetStore(tmp_path / "datasets")
    with pytest.raises(DataError, match=r"version\.json, validation\.json missing"):
        store.adopt(broken)
    assert not store.root.exists()
