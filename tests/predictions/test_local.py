"""The embedded log's own guarantees: segments, compaction, Parquet layout."""

from __future__ import annotations

import shutil
from pathlib import Path

from headway.predictions import EmbeddedPredictionLog
from tests.predictions._records import make_records


def _parts(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / "parquet").rglob("*.parquet"))


def test_compaction_writes_one_part_per_utc_day(tmp_path: Path) -> None:
    with EmbeddedPredictionLog(tmp_path) as log:
        log.append(make_records(6))  # 22:00 .. 00:30 UTC: two days
        log.compact()
        days = sorted(p.parent.name for p in (tmp_path / "parquet").rglob("part-*.parquet"))
        assert days == ["date=2024-05-01", "date=2024-05-02"]
        assert not list((tmp_path / "segments").glob("*.jsonl"))
        assert len(log.read()) == 6


def test_compaction_leaves_a_live_writers_segment_alone(tmp_path: Path) -> None:
    writer = EmbeddedPredictionLog(tmp_path)
    compactor = EmbeddedPredictionLog(tmp_path)
    try:
        writer.append(make_records(3, prefix="w"))
        compactor.append(make_records(2, prefix="c"))
        compactor.compact()
        live = list((tmp_path / "segments").glob("*.jsonl"))
        assert len(live) == 1  # the writer's: still open, so not compacted
        writer.append(make_records(2, prefix="w2"))
        assert list((tmp_path / "segments").glob("*.jsonl")) == live
        assert len(compactor.read()) == 7
        writer.close()
        compactor.compact()
        assert not list((tmp_path / "segments").glob("*.jsonl"))
        assert sorted(compactor.read()["prediction_id"]) == sorted(
            ["w-0", "w-1", "w-2", "c-0", "c-1", "w2-0", "w2-1"]
        )
    finally:
        writer.close()
        compactor.close()


def test_a_crash_between_part_and_segment_removal_duplicates_nothing(tmp_path: Path) -> None:
    with EmbeddedPredictionLog(tmp_path) as log:
        log.append(make_records(6))
    segment = next((tmp_path / "segments").glob("*.jsonl"))
    kept = tmp_path / "kept.jsonl"
    shutil.copy(segment, kept)
    with EmbeddedPredictionLog(tmp_path) as log:
        log.compact()
        parts = _parts(tmp_path)
        # As if the compactor died after writing the parts, before removing the segment.
        shutil.copy(kept, segment)
        assert sorted(log.read()["prediction_id"]) == [f"p-{i}" for i in range(6)]
        assert sorted(log.get(["p-1", "p-5"])["prediction_id"]) == ["p-1", "p-5"]
        assert log.read(limit=3)["prediction_id"].tolist() == ["p-3", "p-4", "p-5"]
        log.compact()  # rewrites the same parts
        assert _parts(tmp_path) == parts
        assert sorted(log.read()["prediction_id"]) == [f"p-{i}" for i in range(6)]


def test_segments_roll_over_past_the_size_limit(tmp_path: Path) -> None:
    with EmbeddedPredictionLog(tmp_path, max_segment_bytes=600) as log:
        for batch in range(5):
            log.append(make_records(3, prefix=f"b{batch}"))
        assert len(list((tmp_path / "segments").glob("*.jsonl"))) >= 3
        assert len(log.read()) == 15
        log.compact()
        assert len(log.read()) == 15


def test_fsync_none_keeps_records_too(tmp_path: Path) -> None:
    with EmbeddedPredictionLog(tmp_path, fsync="none") as log:
        log.append(make_records(4))
    with EmbeddedPredictionLog(tmp_path) as log:
        assert len(log.read()) == 4
