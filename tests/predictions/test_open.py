"""Choosing a backend by URL, and the errors a bad URL or a bad record gives."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from headway.exceptions import ConfigError
from headway.predictions import (
    EmbeddedPredictionLog,
    Feedback,
    PredictionRecord,
    S3PredictionLog,
    SqlPredictionLog,
    open_prediction_log,
)
from tests.predictions._records import T0, make_records
from tests.predictions.conftest import MotoServer


def test_no_url_opens_the_embedded_log(tmp_path: Path) -> None:
    with open_prediction_log(None, tmp_path) as log:
        assert isinstance(log, EmbeddedPredictionLog)


def test_a_sqlite_url_opens_the_sql_log(tmp_path: Path) -> None:
    with open_prediction_log(f"sqlite:///{tmp_path / 'p.db'}", tmp_path) as log:
        assert isinstance(log, SqlPredictionLog)


def test_an_s3_url_opens_the_object_store_log(tmp_path: Path, s3_env: MotoServer) -> None:
    with open_prediction_log("s3://headway-predictions/open", tmp_path) as log:
        assert isinstance(log, S3PredictionLog)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://admin:s3cret@db.internal/log",
        "http://admin:s3cret@log.internal/",
        "s3://",
        "s3://admin:s3cret@bucket/prefix",
        "s3://bucket/prefix?password=s3cret",
        "postgresql+psycopg://admin:s3cret@db.internal:notaport/log",
        "not a url",
    ],
)
def test_a_bad_url_names_the_setting_and_masks_the_password(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        open_prediction_log(url, tmp_path)
    message = str(caught.value)
    assert "s3cret" not in message
    assert "predictions.url" in message
    assert "HEADWAY_PREDICTIONS_URL" in message


def test_an_unreachable_database_is_a_config_error_without_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://admin:s3cret@127.0.0.1:1/log?connect_timeout=5"
    with pytest.raises(ConfigError) as caught:
        open_prediction_log(url, tmp_path)
    assert "s3cret" not in str(caught.value)
    assert "admin:***@127.0.0.1:1" in str(caught.value)


def test_a_missing_bucket_is_a_config_error(tmp_path: Path, s3_env: MotoServer) -> None:
    with pytest.raises(ConfigError, match="no-such-bucket"):
        open_prediction_log("s3://no-such-bucket/log", tmp_path)


def test_a_bad_fsync_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"predictions\.fsync"):
        open_prediction_log(None, tmp_path, fsync="always")


def test_records_need_aware_times_and_a_known_route() -> None:
    record = make_records(1)[0]
    with pytest.raises(ValueError, match="time zone"):
        PredictionRecord(**{**record.__dict__, "timestamp": datetime(2024, 1, 1)})
    with pytest.raises(ValueError, match="route"):
        PredictionRecord(**{**record.__dict__, "route": "blue"})
    with pytest.raises(ValueError, match="time zone"):
        Feedback("p-0", 1, datetime(2024, 1, 1))
    with pytest.raises(TypeError, match="scalar"):
        Feedback("p-0", [1, 2])


def test_reads_need_aware_times(tmp_path: Path) -> None:
    with EmbeddedPredictionLog(tmp_path) as log, pytest.raises(ValueError, match="time zone"):
        log.read(datetime(2024, 1, 1))


def test_a_batch_with_a_record_that_is_not_json_writes_nothing(tmp_path: Path) -> None:
    good = make_records(2)
    bad = replace(good[0], prediction_id="bad", inputs={"x": object()})
    with EmbeddedPredictionLog(tmp_path) as log:
        with pytest.raises(TypeError, match="'bad'"):
            log.append([good[1], bad])
        assert log.read().empty
        log.append(good)
        assert len(log.read(T0, T0 + timedelta(hours=1))) == 2
