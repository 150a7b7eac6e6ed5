"""One suite for every prediction-log backend: embedded, SQLite, PostgreSQL, S3 (moto)."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd

from headway.predictions import (
    FEEDBACK_COLUMNS,
    JOINED_COLUMNS,
    PREDICTION_COLUMNS,
    BasePredictionLog,
    Feedback,
    PredictionRecord,
)
from tests.predictions._records import T0, make_records
from tests.predictions.conftest import LogSpec


def _as_rows(frame: pd.DataFrame) -> list[dict[str, object]]:
    return [
        {**row, "timestamp": row["timestamp"].to_pydatetime()}
        for row in frame.to_dict(orient="records")
    ]


def _expected(records: list[PredictionRecord]) -> list[dict[str, object]]:
    ordered = sorted(records, key=lambda r: (r.timestamp, r.prediction_id))
    return [
        {
            "prediction_id": r.prediction_id,
            "timestamp": r.timestamp,
            "model_name": r.model_name,
            "model_version": r.model_version,
            "route": r.route,
            "latency_ms": r.latency_ms,
            "inputs": r.inputs,
            "outputs": r.outputs,
        }
        for r in ordered
    ]


def test_append_then_read_back_exactly(log: BasePredictionLog) -> None:
    records = make_records(7)
    log.append(records[:3])
    log.append(records[3:])
    frame = log.read()
    assert list(frame.columns) == list(PREDICTION_COLUMNS)
    assert str(frame["timestamp"].dt.tz) == "UTC"
    assert _as_rows(frame) == _expected(records)


def test_timestamps_come_back_in_utc(log: BasePredictionLog) -> None:
    local = datetime(2024, 5, 2, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    log.append([replace(make_records(1)[0], timestamp=local)])
    stamp = log.read()["timestamp"].iloc[0].to_pydatetime()
    assert stamp == datetime(2024, 5, 1, 23, 30, 15, 123456, tzinfo=UTC)
    assert stamp.utcoffset() == timedelta(0)


def test_read_by_time_window_and_model(log: BasePredictionLog) -> None:
    churn = make_records(8)  # 22:00 .. 01:30, every 30 minutes
    other = make_records(8, prefix="q", model_name="fraud")
    log.append(churn + other)
    window = log.read(T0 + timedelta(hours=1), T0 + timedelta(hours=2, minutes=30))
    expected = {f"{p}-{i}" for p in ("p", "q") for i in (2, 3, 4)}
    assert set(window["prediction_id"]) == expected
    only = log.read(T0 + timedelta(hours=1), None, model_name="fraud")
    assert list(only["prediction_id"]) == [f"q-{i}" for i in range(2, 8)]
    assert log.read(model_name="nobody").empty
    assert list(log.read(None, T0 + timedelta(minutes=30), model_name="churn").prediction_id) == [
        "p-0"
    ]


def test_read_limit_keeps_the_newest(log: BasePredictionLog) -> None:
    log.append(make_records(6))
    assert list(log.read(limit=2)["prediction_id"]) == ["p-4", "p-5"]
    assert list(log.read(None, T0 + timedelta(hours=1), limit=1)["prediction_id"]) == ["p-1"]


def test_get_by_ids_leaves_missing_ids_out(log: BasePredictionLog) -> None:
    records = make_records(5)
    log.append(records)
    found = log.get(["p-3", "nope", "p-0", "p-3"])
    assert _as_rows(found) == _expected([records[0], records[3]])
    empty = log.get(["nope"])
    assert empty.empty
    assert list(empty.columns) == list(PREDICTION_COLUMNS)


def test_empty_log_reads_empty_frames(log: BasePredictionLog) -> None:
    assert log.read().empty
    assert list(log.read().columns) == list(PREDICTION_COLUMNS)
    assert list(log.feedback().columns) == list(FEEDBACK_COLUMNS)
    assert list(log.joined().columns) == list(JOINED_COLUMNS)
    assert log.add_feedback([]).accepted == 0


def test_an_id_appended_twice_is_read_once(log: BasePredictionLog) -> None:
    records = make_records(3)
    log.append(records)
    log.append(records[1:2])
    assert list(log.read()["prediction_id"]) == ["p-0", "p-1", "p-2"]


def test_feedback_is_accepted_and_unknown_ids_reported(log: BasePredictionLog) -> None:
    log.append(make_records(4))
    observed = T0 + timedelta(days=3)
    result = log.add_feedback(
        [
            Feedback("p-1", 1, observed),
            Feedback("ghost", 0),
            Feedback("p-2", "churned"),
            Feedback("ghost", 1),
            Feedback("other", 1),
        ]
    )
    assert result.accepted == 2
    assert result.unknown_ids == ["ghost", "other"]
    labels = log.feedback()
    assert list(labels.columns) == list(FEEDBACK_COLUMNS)
    assert sorted(labels["prediction_id"]) == ["p-1", "p-2"]
    by_id = labels.set_index("prediction_id")
    assert by_id.loc["p-1", "label"] == 1
    assert by_id.loc["p-2", "label"] == "churned"
    assert by_id.loc["p-1", "observed_at"].to_pydatetime() == observed
    assert pd.isna(by_id.loc["p-2", "observed_at"])
    assert by_id.loc["p-2", "received_at"] > observed  # received now, after 2024


def test_the_latest_label_counts(log: BasePredictionLog) -> None:
    log.append(make_records(3))
    log.add_feedback([Feedback("p-0", 0, T0 + timedelta(days=2)), Feedback("p-1", 0)])
    # p-0: an older observation arriving later does not replace the newer one.
    log.add_feedback([Feedback("p-0", 1, T0 + timedelta(days=1))])
    # p-1: a second label without a time counts as observed on arrival: it wins.
    log.add_feedback([Feedback("p-1", 1)])
    labels = log.feedback().set_index("prediction_id")["label"].to_dict()
    assert labels == {"p-0": 0, "p-1": 1}


def test_feedback_window_is_on_observation_time(log: BasePredictionLog) -> None:
    log.append(make_records(3))
    log.add_feedback(
        [Feedback("p-0", 1, T0 + timedelta(days=1)), Feedback("p-1", 0, T0 + timedelta(days=5))]
    )
    window = log.feedback(T0 + timedelta(days=2), T0 + timedelta(days=6))
    assert list(window["prediction_id"]) == ["p-1"]


def test_joined_gives_each_prediction_its_latest_label(log: BasePredictionLog) -> None:
    log.append(make_records(4))
    log.add_feedback([Feedback("p-1", 0, T0), Feedback("p-3", 1, T0)])
    log.add_feedback([Feedback("p-1", 1, T0 + timedelta(hours=1))])
    joined = log.joined(T0 + timedelta(minutes=30))
    assert list(joined.columns) == list(JOINED_COLUMNS)
    assert list(joined["prediction_id"]) == ["p-1", "p-2", "p-3"]
    assert joined["label"].tolist()[0] == 1
    assert pd.isna(joined["label"].tolist()[1])
    assert joined["label"].tolist()[2] == 1
    assert joined["observed_at"].iloc[0].to_pydatetime() == T0 + timedelta(hours=1)


def test_compact_keeps_every_record_exactly_once(spec: LogSpec) -> None:
    records = make_records(12)
    with spec.open() as log:
        log.append(records[:5])
        log.add_feedback([Feedback("p-0", 1, T0)])
        log.append(records[5:])
        before, labels_before = log.read(), log.feedback()
        log.compact()
        log.compact()  # a second compaction finds nothing new
        after = log.read()
        assert _as_rows(after) == _as_rows(before) == _expected(records)
        pd.testing.assert_frame_equal(log.feedback(), labels_before)
        log.append(make_records(2, prefix="late"))
        assert len(log.read()) == 14
    with spec.open() as reopened:
        expected = [r.prediction_id for r in records] + ["late-0", "late-1"]
        assert sorted(reopened.read()["prediction_id"]) == sorted(expected)
        assert reopened.feedback()["prediction_id"].tolist() == ["p-0"]


def _append_in_child(spec: LogSpec, prefix: str, batches: int) -> None:
    with spec.open() as log:
        for batch in range(batches):
            log.append(make_records(5, prefix=f"{prefix}-{batch}"))


def test_appends_from_two_processes_are_all_kept(spec: LogSpec) -> None:
    context = multiprocessing.get_context("spawn")
    children = [
        context.Process(target=_append_in_child, args=(spec, name, 4)) for name in ("a", "b")
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0]
    with spec.open() as log:
        ids = log.read()["prediction_id"].tolist()
        expected = {f"{p}-{b}-{i}" for p in ("a", "b") for b in range(4) for i in range(5)}
        assert sorted(ids) == sorted(expected)
        log.compact()
        assert sorted(log.read()["prediction_id"]) == sorted(expected)


def test_reopen_after_close_keeps_everything(spec: LogSpec) -> None:
    records = make_records(6)
    with spec.open() as log:
        log.append(records[:4])
        log.add_feedback([Feedback("p-2", 1, T0)])
    with spec.open() as log:
        log.append(records[4:])
    with spec.open() as log:
        assert _as_rows(log.read()) == _expected(records)
        assert log.feedback()["prediction_id"].tolist() == ["p-2"]
