from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from headway import DataError
from headway.data import ingest, raise_for_failures, split, validate
from headway.datasets import make_churn
from headway.project import DataConfig, SourceConfig, SplitConfig


def churn_csv(tmp_path: Path, rows: int = 400, **changes: object) -> Path:
    frame = make_churn(rows, seed=3)
    for column, value in changes.items():
        frame[column] = value
    path = tmp_path / "data.csv"
    frame.to_csv(path, index=False)
    return path


DATA = DataConfig(
    source=SourceConfig(path="data.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)


def test_ingest_versions_by_content(tmp_path: Path) -> None:
    churn_csv(tmp_path)
    first = ingest(DATA.source, root=tmp_path, timestamp_column="observed_at")
    again = ingest(DATA.source, root=tmp_path, timestamp_column="observed_at")
    assert first.version.content_hash == again.version.content_hash
    assert first.version.n_rows == 400 and "churned" in first.version.columns
    assert str(first.frame["observed_at"].dt.tz) == "UTC"
    churn_csv(tmp_path, rows=401)
    changed = ingest(DATA.source, root=tmp_path)
    assert changed.version.content_hash != first.version.content_hash


def test_parquet_source(tmp_path: Path) -> None:
    make_churn(300, seed=1).to_parquet(tmp_path / "d.parquet")
    dataset = ingest(SourceConfig(path="d.parquet"), root=tmp_path)
    assert dataset.version.format == "parquet" and dataset.version.n_rows == 300


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "data file not found"),
        ("", "the data file is empty"),
        ("a,b,churned\n", "has a header but no rows"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "data.csv").write_text(content)
    with pytest.raises(DataError, match=message) as info:
        ingest(DATA.source, root=tmp_path)
    assert "data.csv" in str(info.value)


def test_bad_timestamps_are_named(tmp_path: Path) -> None:
    frame = make_churn(100, seed=0)
    frame["observed_at"] = frame["observed_at"].astype(str)
    frame.loc[7, "observed_at"] = "yesterday"
    frame.to_csv(tmp_path / "data.csv", index=False)
    with pytest.raises(DataError, match=r"'observed_at'.*'yesterday'.*rows 7"):
        ingest(DATA.source, root=tmp_path, timestamp_column="observed_at")


def _report(frame: pd.DataFrame, data: DataConfig = DATA, task: str = "binary"):
    dataset_version = ingest_frame(frame)
    return validate(frame, dataset_version, data=data, task=task)


def ingest_frame(frame: pd.DataFrame):
    from headway.artifacts import DatasetVersion

    return DatasetVersion(
        "h" * 64, "file:///x.csv", "csv", len(frame), tuple(frame.columns), {}, "s", "t"
    )


def test_valid_table_passes() -> None:
    report = _report(make_churn(300, seed=0))
    assert report.passed, report.failures


def test_target_absent_is_named() -> None:
    frame = make_churn(300, seed=0).drop(columns="churned")
    report = _report(frame)
    assert not report.passed
    with pytest.raises(DataError, match=r"column 'churned' \(data.target\) is not in the data"):
        raise_for_failures(report, source="data.csv")


def test_all_null_target() -> None:
    frame = make_churn(300, seed=0)
    frame["churned"] = None
    with pytest.raises(DataError, match="'churned' has only missing values"):
        raise_for_failures(_report(frame), source="data.csv")


def test_single_class_binary_target() -> None:
    frame = make_churn(300, seed=0)
    frame["churned"] = 1
    with pytest.raises(DataError, match="needs exactly 2 classes"):
        raise_for_failures(_report(frame), source="data.csv")


def test_duplicate_ids_and_too_few_rows() -> None:
    frame = make_churn(30, seed=0)
    frame.loc[1, "customer_id"] = frame.loc[0, "customer_id"]
    report = _report(frame)
    names = {c.name for c in report.failures}
    assert names == {"unique_id", "min_rows"}


def test_some_null_targets_warn_and_are_dropped_by_split() -> None:
    frame = make_churn(500, seed=0)
    frame.loc[:9, "churned"] = None
    report = _report(frame)
    assert report.passed and [c.name for c in report.warnings] == ["target_not_null"]
    parts = split(frame, data=DATA, config=SplitConfig(), task="binary", seed=0)
    assert len(parts.train) + len(parts.valid) + len(parts.test) == 490


def test_time_split_trains_on_the_past() -> None:
    frame = make_churn(1000, seed=0).sample(frac=1.0, random_state=1)  # shuffled
    parts = split(frame, data=DATA, config=SplitConfig(), task="binary", seed=0)
    assert parts.strategy == "time"
    assert (len(parts.train), len(parts.valid), len(parts.test)) == (600, 200, 200)
    assert parts.train["observed_at"].max() <= parts.valid["observed_at"].min()
    assert parts.valid["observed_at"].max() <= parts.test["observed_at"].min()


def test_random_split_is_stratified_and_seeded() -> None:
    data = DATA.model_copy(update={"timestamp_column": None})
    frame = make_churn(2000, seed=0)
    a = split(frame, data=data, config=SplitConfig(), task="binary", seed=5)
    b = split(frame, data=data, config=SplitConfig(), task="binary", seed=5)
    assert a.strategy == "random_stratified"
    assert a.test.index.equals(b.test.index)
    assert abs(a.test["churned"].mean() - frame["churned"].mean()) < 0.01
