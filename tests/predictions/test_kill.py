"""A writer killed with SIGKILL loses nothing it acknowledged; a torn line does not break reads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from headway.predictions import EmbeddedPredictionLog, Feedback
from tests.predictions._records import make_records

REPO = Path(__file__).resolve().parents[2]


def _run_and_kill(root: Path, fsync: str, *, at_least: int) -> list[str]:
    """Start the writer, SIGKILL it once it acknowledged ``at_least`` ids; the ids."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.predictions._writer", str(root), fsync],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    acknowledged: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            acknowledged.append(line.strip())
            if len(acknowledged) >= at_least:
                break
        os.kill(proc.pid, signal.SIGKILL)
        rest, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, err
    # What reached the pipe before the kill was acknowledged too (complete lines only).
    acknowledged += [line for line in rest.split("\n")[:-1] if line]
    assert len(acknowledged) >= at_least, err
    return acknowledged


@pytest.mark.parametrize("fsync", ["batch", "none"])
def test_sigkill_loses_nothing_acknowledged(tmp_path: Path, fsync: str) -> None:
    root = tmp_path / "predictions"
    acknowledged = _run_and_kill(root, fsync, at_least=2000)
    with EmbeddedPredictionLog(root) as log:
        logged = set(log.read()["prediction_id"])
        assert set(acknowledged) <= logged
        # The killed writer's segments are closed now: compaction takes them all.
        log.compact()
        assert set(log.read()["prediction_id"]) == logged
        assert not list((root / "segments").glob("*.jsonl"))


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "predictions"
    records = make_records(5)
    with EmbeddedPredictionLog(root) as log:
        log.append(records)
        log.add_feedback([Feedback("p-1", 1)])
    segments = list((root / "segments").glob("*.jsonl"))
    assert len(segments) == 1
    with segments[0].open("ab") as torn:
        torn.write(b'{"prediction_id": "torn", "timestamp": 17145')
    feedback_segment = next((root / "feedback" / "segments").glob("*.jsonl"))
    with feedback_segment.open("ab") as torn:
        torn.write(b'{"prediction_id": "p-2", "la')
    with EmbeddedPredictionLog(root) as log:
        log.append(make_records(2, prefix="after"))
        expected = [r.prediction_id for r in records] + ["after-0", "after-1"]
        assert sorted(log.read()["prediction_id"]) == sorted(expected)
        assert log.get(["torn", "p-4"])["prediction_id"].tolist() == ["p-4"]
        assert log.feedback()["prediction_id"].tolist() == ["p-1"]
        log.compact()
        assert sorted(log.read()["prediction_id"]) == sorted(expected)
        assert log.feedback()["prediction_id"].tolist() == ["p-1"]


def test_a_garbage_line_inside_a_segment_is_skipped(tmp_path: Path) -> None:
    root = tmp_path / "predictions"
    with EmbeddedPredictionLog(root) as log:
        log.append(make_records(2))
    segment = next((root / "segments").glob("*.jsonl"))
    segment.write_bytes(b"not json\n[1, 2]\n" + segment.read_bytes())
    with EmbeddedPredictionLog(root) as log:
        assert log.read()["prediction_id"].tolist() == ["p-0", "p-1"]
