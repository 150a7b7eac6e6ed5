"""The inference rules of ``headway init --data`` on small hand-built tables."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from headway.config import SourceConfig
from headway.data.profile import TableProfile, profile_table, read_profile_sample
from headway.exceptions import ConfigError, DataError

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def table(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Numbers and a category that predict the target only loosely."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "y": (x + rng.normal(scale=1.5, size=n) > 0).astype(int),
        }
    )


def excluded(result: TableProfile) -> dict[str, str]:
    return {e.column: e.reason for e in result.exclusions}


# task


def test_two_values_are_binary() -> None:
    result = profile_table(table(), target="y", now=NOW)
    assert result.task.value == "binary"
    assert result.task.reason == "target 'y' has two values: 0, 1"
    assert result.id_column.value is None and result.timestamp_column.value is None
    assert result.exclusions == ()
    assert result.split == (
        "by a seeded hash of each row's content (a row keeps its part as the data grows)"
    )


def test_two_text_values_and_booleans_are_binary() -> None:
    frame = table()
    frame["y"] = np.where(frame["y"] == 1, "yes", "no")
    assert profile_table(frame, target="y", now=NOW).task.value == "binary"
    frame["y"] = frame["y"] == "yes"
    assert profile_table(frame, target="y", now=NOW).task.value == "binary"


def test_a_few_text_values_are_multiclass() -> None:
    frame = table()
    frame["y"] = np.where(frame["x"] > 0.5, "high", np.where(frame["x"] < -0.5, "low", "mid"))
    frame["x"] = frame["x"] + np.random.default_rng(1).normal(scale=2, size=len(frame))
    result = profile_table(frame, target="y", now=NOW)
    assert result.task.value == "multiclass"
    assert "3 text values: high, low, mid" in result.task.reason


def test_many_numeric_values_are_regression() -> None:
    frame = table()
    frame["y"] = frame["x"] * 2 + np.random.default_rng(2).normal(scale=3, size=len(frame))
    result = profile_table(frame, target="y", now=NOW)
    assert result.task.value == "regression"
    assert "numeric with 300 distinct values" in result.task.reason
    assert result.split.startswith("by a seeded hash of")


def test_a_numeric_target_with_few_values_is_ambiguous() -> None:
    frame = table()
    frame["y"] = np.random.default_rng(3).integers(0, 5, size=len(frame))
    with pytest.raises(ConfigError) as info:
        profile_table(frame, target="y", now=NOW)
    message = str(info.value)
    assert "only 5 distinct values (0, 1, 2, 3, 4)" in message
    assert "--task multiclass" in message and "--task regression" in message
    # Either flag settles it.
    assert profile_table(frame, target="y", task="multiclass", now=NOW).task.value == "multiclass"
    assert profile_table(frame, target="y", task="regression", now=NOW).task.value == "regression"


def test_too_many_text_values_ask_for_the_task() -> None:
    frame = table()
    frame["y"] = [f"label {i % 80}" for i in range(len(frame))]
    with pytest.raises(ConfigError, match=r"80 distinct text values.*--task multiclass"):
        profile_table(frame, target="y", now=NOW)


# bad input


def test_missing_target_suggests_close_names() -> None:
    frame = table().rename(columns={"y": "churned"})
    with pytest.raises(ConfigError) as info:
        profile_table(frame, target="churn", now=NOW)
    message = str(info.value)
    assert "column 'churn' (--target) is not in the data" in message
    assert "Did you mean 'churned'?" in message
    assert "Columns are: x, z, colour, churned" in message


def test_all_null_target() -> None:
    frame = table()
    frame["y"] = np.nan
    with pytest.raises(DataError, match="'y' \\(--target\\) has only missing values"):
        profile_table(frame, target="y", now=NOW)


def test_single_valued_target() -> None:
    frame = table()
    frame["y"] = 1
    with pytest.raises(DataError, match="holds one value \\(1\\) in every row"):
        profile_table(frame, target="y", now=NOW)


def test_regression_on_text_target() -> None:
    frame = table()
    frame["y"] = np.where(frame["y"] == 1, "yes", "no")
    with pytest.raises(ConfigError, match="--task regression needs a numeric target; 'y' holds"):
        profile_table(frame, target="y", task="regression", now=NOW)


def test_binary_on_three_classes() -> None:
    frame = table()
    frame["y"] = ["a", "b", "c"] * 100
    with pytest.raises(ConfigError, match="--task binary needs a target with exactly two"):
        profile_table(frame, target="y", task="binary", now=NOW)


def test_unknown_task() -> None:
    with pytest.raises(ConfigError, match="unknown task 'classify' \\(--task\\); choose auto"):
        profile_table(table(), target="y", task="classify", now=NOW)


# timestamp


def dated(frame: pd.DataFrame, *columns: str, as_text: bool = False) -> pd.DataFrame:
    for offset, column in enumerate(columns):
        stamps = pd.date_range("2023-01-01", periods=len(frame), freq="h") + pd.Timedelta(
            days=offset
        )
        frame[column] = stamps.strftime("%Y-%m-%d %H:%M:%S") if as_text else stamps
    return frame


def test_one_datetime_column_is_the_timestamp() -> None:
    result = profile_table(dated(table(), "created_at"), target="y", now=NOW)
    assert result.timestamp_column.value == "created_at"
    assert "the only date/time column: a time-based split" in result.timestamp_column.reason
    assert result.split.startswith("time-based on 'created_at'")


def test_dates_written_as_text_are_found() -> None:
    result = profile_table(dated(table(), "day", as_text=True), target="y", now=NOW)
    assert result.timestamp_column.value == "day"


def test_numbers_and_codes_are_not_dates() -> None:
    frame = table()
    frame["year"] = 2020 + np.arange(len(frame)) % 4
    frame["code"] = [f"{i % 12}-{i % 7}" for i in range(len(frame))]
    assert profile_table(frame, target="y", now=NOW).timestamp_column.value is None


def test_two_datetime_columns_are_ambiguous() -> None:
    frame = dated(table(), "created_at", "updated_at")
    with pytest.raises(ConfigError) as info:
        profile_table(frame, target="y", now=NOW)
    message = str(info.value)
    assert "2 date/time columns (created_at, updated_at)" in message
    assert "--timestamp COLUMN" in message and "--timestamp none" in message
    settled = profile_table(frame, target="y", timestamp="updated_at", now=NOW)
    assert settled.timestamp_column.value == "updated_at"
    assert "a date/time column besides the timestamp" in excluded(settled)["created_at"]
    none = profile_table(frame, target="y", timestamp="none", now=NOW)
    assert none.timestamp_column.value is None
    assert set(excluded(none)) == {"created_at", "updated_at"}


def test_timestamp_flag_must_name_a_date_column() -> None:
    with pytest.raises(ConfigError, match="'x' \\(--timestamp\\) does not hold dates"):
        profile_table(table(), target="y", timestamp="x", now=NOW)
    with pytest.raises(ConfigError, match="'when' \\(--timestamp\\) is not in the data"):
        profile_table(table(), target="y", timestamp="when", now=NOW)


def test_future_dates_are_not_the_timestamp() -> None:
    frame = dated(table(), "created_at")
    frame["due"] = pd.date_range("2030-01-01", periods=len(frame), freq="D")
    result = profile_table(frame, target="y", now=NOW)
    assert result.timestamp_column.value == "created_at"
    assert "dates after today" in excluded(result)["due"]


# id


@pytest.mark.parametrize("name", ["id", "customer_id", "customerID", "order key", "uuid"])
def test_a_unique_column_named_like_an_id_is_the_id(name: str) -> None:
    frame = table()
    frame[name] = [f"K{i:05d}" for i in range(len(frame))][::-1]
    result = profile_table(frame, target="y", now=NOW)
    assert result.id_column.value == name
    assert "named like an id" in result.id_column.reason


def test_a_row_counter_and_unique_codes_are_ids() -> None:
    frame = table()
    frame.insert(0, "row", np.arange(10, 10 + len(frame)))
    result = profile_table(frame, target="y", now=NOW)
    assert result.id_column.value == "row"
    assert "row number" in result.id_column.reason
    frame = table()
    frame["ref"] = [f"R{i * 7919 % 100000:05d}" for i in range(len(frame))]
    assert profile_table(frame, target="y", now=NOW).id_column.value == "ref"


def test_id_flags() -> None:
    frame = table()
    frame["customer_id"] = np.arange(len(frame))
    frame["paid"] = np.arange(len(frame)) * 1.5  # unique numbers, not named like an id
    assert profile_table(frame, target="y", id_column="none", now=NOW).id_column.value is None
    assert profile_table(frame, target="y", now=NOW).id_column.value == "customer_id"
    with pytest.raises(ConfigError, match="'colour' \\(--id\\) is not a unique row key"):
        profile_table(frame, target="y", id_column="colour", now=NOW)


def test_a_second_key_is_excluded() -> None:
    frame = table()
    frame["id"] = np.arange(len(frame))
    frame["account_id"] = [f"A{i:04d}" for i in range(len(frame))]
    result = profile_table(frame, target="y", now=NOW)
    assert result.id_column.value == "id"
    assert "unique per row like the id 'id'" in excluded(result)["account_id"]


def test_a_repeated_or_fractional_column_is_no_id() -> None:
    frame = table()
    frame["user_id"] = np.arange(len(frame)) % 50
    frame["amount"] = np.random.default_rng(4).random(len(frame))
    assert profile_table(frame, target="y", now=NOW).id_column.value is None


# exclusions


def test_constant_and_empty_columns_are_excluded() -> None:
    frame = table()
    frame["country"] = "NZ"
    frame["empty"] = np.nan
    frame["version"] = 3
    frame["flagged"] = np.where(frame["x"] > 0, "yes", None)  # present or absent: kept
    reasons = excluded(profile_table(frame, target="y", now=NOW))
    assert reasons == {
        "country": "one value ('NZ') in every row",
        "empty": "every value is missing",
        "version": "one value (3) in every row",
    }


def test_near_unique_text_is_excluded() -> None:
    frame = table()
    frame["comment"] = [f"customer said thing number {i}" for i in range(len(frame))]
    reasons = excluded(profile_table(frame, target="y", now=NOW))
    assert reasons == {"comment": "near-unique text (300 distinct values in 300 rows)"}


def test_a_column_named_after_the_target_is_a_leakage_suspect() -> None:
    frame = table().rename(columns={"y": "churned"})
    frame["churned_reason"] = np.random.default_rng(5).choice(["price", "service"], len(frame))
    frame["unchurnedish"] = 1.0 + np.random.default_rng(6).random(len(frame))
    reasons = excluded(profile_table(frame, target="churned", now=NOW))
    assert reasons == {
        "churned_reason": "its name contains the target's name 'churned': a leakage suspect"
    }


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_a_column_that_predicts_the_target_alone_is_a_leakage_suspect(task: str) -> None:
    frame = table(600)
    rng = np.random.default_rng(7)
    if task == "multiclass":
        frame["y"] = rng.choice(["a", "b", "c"], size=len(frame))
        frame["status"] = frame["y"].map({"a": "open", "b": "closed", "c": "lost"})
        frame["score"] = frame["y"].map({"a": 1.0, "b": 5.0, "c": 9.0}) + rng.random(len(frame))
    elif task == "regression":
        frame["y"] = rng.normal(100, 20, size=len(frame))
        frame["status"] = np.where(frame["y"] > 100, "big", "small")  # half the story: kept
        frame["score"] = frame["y"] * 3 + rng.normal(scale=0.1, size=len(frame))
    else:
        frame["status"] = np.where(frame["y"] == 1, "closed", "open")
        frame["score"] = frame["y"] + rng.random(len(frame)) * 0.9
    result = profile_table(frame, target="y", now=NOW)
    assert result.task.value == task
    reasons = excluded(result)
    expected = {"score"} if task == "regression" else {"status", "score"}
    assert set(reasons) == expected
    assert "alone predicts 'y' almost perfectly" in reasons["score"]
    assert "x" not in reasons and "colour" not in reasons


# forecast


def sales(days: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(8)
    dates = pd.date_range("2024-01-01", periods=days, freq="D")
    rows = [
        {"date": d, "store": s, "price": rng.uniform(1, 3), "units": int(rng.poisson(20))}
        for d in dates
        for s in ("north", "south", "east")
    ]
    return pd.DataFrame(rows)


def test_forecast_needs_a_timestamp_and_the_series() -> None:
    frame = sales()
    with pytest.raises(ConfigError, match=r"several rows share the same 'date'.*--series store"):
        profile_table(frame, target="units", task="forecast", now=NOW)
    result = profile_table(frame, target="units", task="forecast", series=["store"], now=NOW)
    assert result.task.value == "forecast"
    assert result.timestamp_column.value == "date"
    assert result.series_columns == ("store",)
    with pytest.raises(ConfigError, match="--task forecast needs the period of each row"):
        profile_table(frame, target="units", task="forecast", timestamp="none", now=NOW)
    with pytest.raises(ConfigError, match="--series applies to --task forecast only"):
        profile_table(frame, target="units", task="regression", series=["store"], now=NOW)
    with pytest.raises(ConfigError, match="'shop' \\(--series\\) is not in the data"):
        profile_table(frame, target="units", task="forecast", series=["shop"], now=NOW)


# reading


def test_large_files_are_profiled_on_a_sample(tmp_path: Path) -> None:
    frame = table(2000)
    frame.to_csv(tmp_path / "big.csv", index=False)
    frame.to_parquet(tmp_path / "big.parquet", index=False)
    for name in ("big.csv", "big.parquet"):
        source = SourceConfig(path=name)
        whole, sampled = read_profile_sample(source, root=tmp_path)
        assert (len(whole), sampled) == (2000, False)
        whole, sampled = read_profile_sample(source, root=tmp_path, max_rows=500)
        assert (len(whole), sampled) == (2000, False)  # small files are read whole
        # Above the size limit DuckDB samples the file without reading it whole.
        rows, sampled = read_profile_sample(
            source, root=tmp_path, max_rows=500, sample_above_bytes=1
        )
        assert (len(rows), sampled) == (500, True)
        assert list(rows.columns) == list(frame.columns)
        assert profile_table(rows, target="y", sampled=True, now=NOW).task.value == "binary"


def test_an_unparseable_file(tmp_path: Path) -> None:
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(DataError, match="cannot be read as Parquet"):
        read_profile_sample(SourceConfig(path="bad.parquet"), root=tmp_path)
