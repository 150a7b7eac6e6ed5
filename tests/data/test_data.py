"""The data stage: sources, schema inference and enforcement, every bad-input case, versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from headway import DataError
from headway.config import DataConfig, SourceConfig, SplitConfig
from headway.data import (
    DataSchema,
    DatasetStore,
    ingest_and_validate,
    load_schema,
    split,
)
from headway.data.schema import write_schema
from headway.datasets import make_churn

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def config(path: str = "data.csv", **changes: object) -> DataConfig:
    base = {
        "source": changes.pop("source", None) or SourceConfig(path=path),
        "target": "churned",
        "id_column": "customer_id",
        "timestamp_column": "observed_at",
    }
    return DataConfig(**{**base, **changes})


def run(tmp_path: Path, data: DataConfig | None = None, task: str = "binary", **kw: object):
    return ingest_and_validate(
        data or config(),
        task=task,
        root=tmp_path,
        store=DatasetStore(tmp_path / ".headway" / "datasets"),
        now=NOW,
        **kw,
    )


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A directory whose schema.yaml was inferred from a first, clean dataset."""
    write_csv(tmp_path, make_churn(600, seed=1))
    run(tmp_path)
    assert (tmp_path / "schema.yaml").is_file()
    return tmp_path


def fails(tmp_path: Path, frame: pd.DataFrame | None = None, **kw: object) -> str:
    if frame is not None:
        write_csv(tmp_path, frame)
    with pytest.raises(DataError) as info:
        run(tmp_path, **kw)
    return str(info.value)


# --- first run: inference, snapshot, caching ------------------------------------------


def test_first_run_infers_schema_and_snapshots(tmp_path: Path) -> None:
    frame = make_churn(600, seed=1)
    write_csv(tmp_path, frame)
    dataset = run(tmp_path)
    assert dataset.schema_written and not dataset.reused
    schema = load_schema(tmp_path / "schema.yaml")
    assert schema.columns["customer_id"].role == "id"
    assert schema.columns["observed_at"].dtype == "datetime"
    assert schema.columns["churned"].role == "target"
    assert schema.columns["age"].nullable and not schema.columns["tenure_months"].nullable
    assert schema.columns["plan"].categories == ["basic", "premium", "standard"]
    assert schema.columns["monthly_charges"].min == frame["monthly_charges"].min()
    snapshot = DatasetStore(tmp_path / ".headway" / "datasets").load_frame(dataset.version)
    assert len(snapshot) == 600
    assert str(snapshot["observed_at"].dtype) == "datetime64[us, UTC]"
    pd.testing.assert_series_equal(snapshot["monthly_charges"], frame["monthly_charges"])


def test_unchanged_source_is_reused_without_parsing(project: Path) -> None:
    first = DatasetStore(project / ".headway" / "datasets").versions()[0]
    again = run(project)
    assert again.reused and again.version.content_hash == first.content_hash
    assert len(again.frame) == 600
    # Editing the schema (a different validation key) validates again.
    schema = load_schema(project / "schema.yaml")
    schema.checks.duplicate_rows = "off"
    write_schema(schema, project / "schema.yaml")
    assert not run(project).reused


def test_changed_content_is_a_new_version(project: Path) -> None:
    frame = make_churn(600, seed=1)
    frame.loc[0, "monthly_charges"] += 1.0
    write_csv(project, frame)
    dataset = run(project)
    assert not dataset.reused
    assert len(DatasetStore(project / ".headway" / "datasets").versions()) == 2


def test_failed_first_run_writes_nothing(tmp_path: Path) -> None:
    frame = make_churn(300, seed=1)
    frame["churned"] = 0
    assert "needs exactly 2 classes" in fails(tmp_path, frame)
    assert not (tmp_path / "schema.yaml").exists()
    assert DatasetStore(tmp_path / ".headway" / "datasets").versions() == []
    # The snapshot started in the background during validation was thrown away.
    assert list((tmp_path / ".headway" / "datasets").glob("*")) == []


# --- sources --------------------------------------------------------------------------


def test_parquet_file_folder_and_glob(tmp_path: Path) -> None:
    frame = make_churn(900, seed=2)
    (tmp_path / "parts").mkdir()
    for i in range(3):
        frame.iloc[i * 300 : (i + 1) * 300].to_parquet(tmp_path / "parts" / f"p{i}.parquet")
    folder = run(tmp_path, config("parts", source=SourceConfig(type="parquet", path="parts")))
    assert folder.version.n_rows == 900 and folder.version.format == "parquet"
    (tmp_path / "schema.yaml").unlink()
    globbed = run(tmp_path, config("parts/p[01].parquet"))
    assert globbed.version.n_rows == 600
    (tmp_path / "schema.yaml").unlink()
    with pytest.raises(DataError, match="the glob matches no file"):
        run(tmp_path, config("nothing/*.parquet"))


def test_sql_source_over_files_and_database(tmp_path: Path) -> None:
    write_csv(tmp_path, make_churn(500, seed=3), "raw.csv")
    query = "SELECT * FROM read_csv_auto('raw.csv') WHERE plan <> 'premium'"
    data = config(source=SourceConfig(type="sql", query=query))
    dataset = run(tmp_path, data)
    assert dataset.version.format == "sql"
    assert set(dataset.frame["plan"]) == {"basic", "standard"}
    con = duckdb.connect(str(tmp_path / "shop.duckdb"))
    con.execute(
        "CREATE TABLE customers AS SELECT * FROM read_csv_auto(?)", [str(tmp_path / "raw.csv")]
    )
    con.close()
    (tmp_path / "schema.yaml").unlink()
    db = config(source=SourceConfig(query="SELECT * FROM customers", database="shop.duckdb"))
    assert run(tmp_path, db).version.n_rows == 500
    bad = config(source=SourceConfig(query="SELECT * FROM nowhere"))
    with pytest.raises(DataError, match=r"the SQL query of data\.source failed"):
        run(tmp_path, bad)


def test_dataframe_source(tmp_path: Path) -> None:
    frame = make_churn(400, seed=4)
    a = run(tmp_path, frame=frame)
    b = run(tmp_path, frame=frame.copy())
    assert a.version.source_uri == "python:dataframe"
    assert a.version.content_hash == b.version.content_hash


# --- bad input: each case names file/column/rows and the fix ----------------------------


def test_wrong_delimiter(tmp_path: Path) -> None:
    make_churn(100, seed=0).to_csv(tmp_path / "data.csv", sep=";", index=False)
    message = fails(tmp_path)
    assert "data.csv" in message and "looks ';'-delimited" in message
    assert "data.source.delimiter: ';'" in message


def test_wrong_encoding(tmp_path: Path) -> None:
    frame = make_churn(100, seed=0)
    frame.loc[5, "region"] = "Málaga"
    frame.to_csv(tmp_path / "data.csv", index=False, encoding="latin-1")
    message = fails(tmp_path)
    assert "not valid utf-8" in message and "data.source.encoding" in message


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    (tmp_path / "data.csv").write_text("")
    assert "the data file is empty" in fails(tmp_path)
    (tmp_path / "data.csv").write_text("customer_id,observed_at,churned\n")
    assert "has a header but no rows" in fails(tmp_path)


def test_missing_extra_and_renamed_columns(project: Path) -> None:
    frame = make_churn(600, seed=1).rename(columns={"tenure_months": "tenure"})
    frame["coupon"] = "x"
    message = fails(project, frame.drop(columns=["age"]))
    assert "the header differs from schema.yaml" in message
    assert "missing column(s) ['tenure_months', 'age']" in message
    assert "extra column(s) ['tenure', 'coupon']" in message
    assert "renamed? 'tenure_months' -> 'tenure'" in message


def test_text_in_numeric_column(project: Path) -> None:
    frame = make_churn(600, seed=1)
    frame["monthly_charges"] = frame["monthly_charges"].astype(object)
    frame.loc[17, "monthly_charges"] = "n/a (promo)"
    message = fails(project, frame)
    assert "column 'monthly_charges' must be numeric" in message
    assert "row 17: 'n/a (promo)'" in message


def test_nulls_in_non_nullable_column(project: Path) -> None:
    frame = make_churn(600, seed=1)
    frame.loc[[3, 9], "tenure_months"] = None
    message = fails(project, frame)
    assert (
        "column 'tenure_months' has missing values but schema.yaml says nullable: false" in message
    )
    assert "2 value(s)" in message and "row 3" in message


def _unseen_category(project: Path, policy: str) -> None:
    schema = load_schema(project / "schema.yaml")
    schema.checks.categories = policy  # type: ignore[assignment]
    write_schema(schema, project / "schema.yaml")
    frame = make_churn(600, seed=1)
    frame.loc[4, "region"] = "atlantis"
    write_csv(project, frame)


def test_unseen_categories_are_an_error_under_error(project: Path) -> None:
    _unseen_category(project, "error")
    message = fails(project)
    assert "column 'region' has categories never seen before" in message
    assert "row 4: 'atlantis'" in message


@pytest.mark.parametrize("policy", ["warn", "map"])
def test_unseen_categories_policy(project: Path, policy: str) -> None:
    _unseen_category(project, policy)
    dataset = run(project)
    (warning,) = [c for c in dataset.report.warnings if c.name == "categories"]
    assert warning.column == "region" and warning.examples == ("atlantis",)
    expected = "unknown" if policy == "map" else "atlantis"
    assert dataset.frame.loc[4, "region"] == expected


def test_duplicated_ids(project: Path) -> None:
    frame = make_churn(600, seed=1)
    frame.loc[10, "customer_id"] = frame.loc[2, "customer_id"]
    message = fails(project, frame)
    assert "'customer_id' (data.id_column) has duplicated ids" in message


def test_future_and_unparseable_timestamps(project: Path) -> None:
    frame = make_churn(600, seed=1)
    frame.loc[8, "observed_at"] = pd.Timestamp("2031-01-01", tz="UTC")
    message = fails(project, frame)
    assert "has timestamps after now (2026-11-22)" in message and "row 8" in message
    frame = make_churn(600, seed=1)
    frame["observed_at"] = frame["observed_at"].astype(str)
    frame.loc[7, "observed_at"] = "last tuesday"
    message = fails(project, frame)
    assert "'observed_at' (data.timestamp_column)" in message and "'last tuesday'" in message


def test_single_class_target_and_absent_target(tmp_path: Path) -> None:
    frame = make_churn(300, seed=0)
    frame["churned"] = 1
    assert "task 'binary' needs exactly 2 classes in 'churned', found 1" in fails(tmp_path, frame)
    frame = make_churn(300, seed=0).rename(columns={"churned": "churn"})
    message = fails(tmp_path, frame)
    assert "column 'churned' (data.target) is not in the data. Did you mean 'churn'?" in message


def test_warnings_for_duplicates_and_leakage(tmp_path: Path) -> None:
    frame = make_churn(800, seed=5)
    frame["cancel_reason_code"] = frame["churned"] * 3 + 1  # known only after churn
    frame = pd.concat([frame, frame.iloc[[0, 1]]], ignore_index=True)
    write_csv(tmp_path, frame)
    assert "duplicated ids" in fails(tmp_path)  # the copied rows repeat their ids
    dataset = run(tmp_path, config(id_column=None))  # without an id, copies are only a warning
    warnings = {c.name: c for c in dataset.report.warnings}
    assert warnings["duplicate_rows"].n_failed == 2
    assert warnings["leakage"].column == "cancel_reason_code"
    assert "label leakage suspect" in warnings["leakage"].message
    assert all(c.column != "monthly_charges" for c in dataset.report.warnings)


def test_invalid_schema_file_is_named(tmp_path: Path) -> None:
    write_csv(tmp_path, make_churn(100, seed=0))
    (tmp_path / "schema.yaml").write_text("version: 1\ncolumns:\n  a: {dtype: decimal}\n")
    from headway import ConfigError

    with pytest.raises(
        ConfigError, match=r"schema.yaml: invalid schema:\n  - key 'columns.a.dtype'"
    ):
        run(tmp_path)


# --- versions and splits ----------------------------------------------------------------


def test_store_lookup_by_prefix(project: Path) -> None:
    store = DatasetStore(project / ".headway" / "datasets")
    (version,) = store.versions()
    assert store.get(version.content_hash[:8]) == version
    with pytest.raises(DataError, match="at least 6 characters"):
        store.get("abc")
    with pytest.raises(DataError, match="no dataset version 'ffffffff'"):
        store.get("ffffffff")
    report, key = store.report(version)
    assert report.passed and key


def test_time_split_trains_on_the_past() -> None:
    frame = make_churn(1000, seed=0).sample(frac=1.0, random_state=1)  # shuffled
    parts = split(frame, data=config(), config=SplitConfig(), task="binary", seed=0)
    assert parts.strategy == "time"
    assert (len(parts.train), len(parts.valid), len(parts.test)) == (600, 200, 200)
    assert parts.train["observed_at"].max() <= parts.valid["observed_at"].min()
    assert parts.valid["observed_at"].max() <= parts.test["observed_at"].min()


def test_some_null_targets_warn_and_are_dropped_by_split(tmp_path: Path) -> None:
    frame = make_churn(500, seed=0)
    frame.loc[:9, "churned"] = None
    write_csv(tmp_path, frame)
    dataset = run(tmp_path)
    assert [c.name for c in dataset.report.warnings] == ["target_not_null"]
    parts = split(dataset.frame, data=config(), config=SplitConfig(), task="binary", seed=0)
    assert len(parts.train) + len(parts.valid) + len(parts.test) == 490


def test_schema_round_trip_keeps_fingerprint(project: Path) -> None:
    schema = load_schema(project / "schema.yaml")
    assert isinstance(schema, DataSchema)
    write_schema(schema, project / "copy.yaml")
    assert load_schema(project / "copy.yaml").fingerprint() == schema.fingerprint()


def test_csv_glob_reads_every_file(tmp_path: Path) -> None:
    frame = make_churn(600, seed=2)
    (tmp_path / "exports").mkdir()
    frame.iloc[:250].to_csv(tmp_path / "exports" / "a.csv", index=False)
    frame.iloc[250:].to_csv(tmp_path / "exports" / "b.csv", index=False)
    dataset = run(
        tmp_path, config("exports/*.csv", source=SourceConfig(type="csv", path="exports/*.csv"))
    )
    assert dataset.version.n_rows == 600
    assert dataset.frame["customer_id"].tolist() == frame["customer_id"].tolist()
