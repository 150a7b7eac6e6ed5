"""The S3 log uploads its spool as date-partitioned Parquet objects (moto's S3 server)."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs as pafs

from headway.predictions import Feedback, open_prediction_log
from tests.predictions._records import make_records
from tests.predictions.conftest import MotoServer


def _objects(server: MotoServer, prefix: str) -> list[str]:
    host = server.endpoint.removeprefix("http://")
    fs = pafs.S3FileSystem(endpoint_override=host, scheme="http")
    found = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(i.path.removeprefix(prefix + "/") for i in found if i.type == pafs.FileType.File)


def test_close_uploads_the_spool(tmp_path: Path, s3_env: MotoServer) -> None:
    url = "s3://headway-predictions/upload/log"
    with open_prediction_log(url, tmp_path) as log:
        log.append(make_records(6))  # two UTC days
        log.add_feedback([Feedback("p-0", 1)])
        assert _objects(s3_env, "headway-predictions/upload/log") == []
    objects = _objects(s3_env, "headway-predictions/upload/log")
    days = sorted({name.split("/")[0] for name in objects if name.startswith("date=")})
    assert days == ["date=2024-05-01", "date=2024-05-02"]
    assert all(name.split("/")[-1].startswith("part-") for name in objects)
    assert len([name for name in objects if name.startswith("feedback/date=")]) == 1
    assert not list((tmp_path / "spool").rglob("*.jsonl"))
    with open_prediction_log(url, tmp_path / "elsewhere") as log:  # another machine
        assert sorted(log.read()["prediction_id"]) == [f"p-{i}" for i in range(6)]
        assert log.feedback()["prediction_id"].tolist() == ["p-0"]
