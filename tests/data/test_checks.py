"""The schema's ``ranges``, ``min_rows`` and ``monotonic_timestamps`` checks under each
policy, on small hand-made tables passed to the data stage."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from headway import DataError
from headway.artifacts import CheckResult
from headway.config import DataConfig, SourceConfig
from headway.data import Dataset, DatasetStore, infer_schema, ingest_and_validate
from headway.data.schema import write_schema

NOW = datetime(2026, 11, 22, tzinfo=UTC)
DATA = DataConfig(source=SourceConfig(path="data.csv"), target="y", timestamp_column="t")


def table(rows: int = 12) -> pd.DataFrame:
    """``rows`` applications a day apart, amounts between 10 and 10 * rows."""
    return pd.DataFrame(
        {
            "t": pd.date_range("2026-01-01", periods=rows, freq="D", tz="UTC"),
            "amount": [10.0 * (i + 1) for i in range(rows)],
            "region": ["north", "south", "east"] * (rows // 3) + ["north"] * (rows % 3),
            "y": [i % 2 for i in range(rows)],
        }
    )


def write_checks(root: Path, frame: pd.DataFrame, **checks: object) -> None:
    """Write schema.yaml for ``frame`` with ``checks`` set (these tables are smaller than
    the default minimum of 50 rows); ``amount`` must lie in [0, 200]."""
    schema = infer_schema(frame, DATA)
    schema.columns["amount"].min, schema.columns["amount"].max = 0.0, 200.0
    update = {"leakage": "off", "min_rows_count": len(frame), **checks}
    schema.checks = schema.checks.model_copy(update=update)
    write_schema(schema, root / "schema.yaml")


def ingest(root: Path, frame: pd.DataFrame) -> Dataset:
    return ingest_and_validate(
        DATA,
        task="binary",
        root=root,
        store=DatasetStore(root / ".headway" / "datasets"),
        frame=frame,
        now=NOW,
    )


def refused(root: Path, frame: pd.DataFrame) -> str:
    with pytest.raises(DataError) as info:
        ingest(root, frame)
    assert DatasetStore(root / ".headway" / "datasets").versions() == []  # nothing kept
    return str(info.value)


def only(dataset: Dataset, name: str) -> CheckResult:
    (check,) = [c for c in dataset.report.checks if c.name == name]
    return check


def names(dataset: Dataset) -> set[str]:
    return {c.name for c in dataset.report.checks}


# --- ranges -----------------------------------------------------------------------------


def out_of_range() -> pd.DataFrame:
    frame = table()
    frame.loc[3, "amount"] = 250.0  # above the maximum 200
    frame.loc[7, "amount"] = -5.0  # below the minimum 0
    return frame


def test_values_inside_the_range_pass(tmp_path: Path) -> None:
    frame = table()
    frame.loc[0, "amount"], frame.loc[1, "amount"] = 0.0, 200.0  # the bounds are allowed
    write_checks(tmp_path, frame, ranges="error")
    check = only(ingest(tmp_path, frame), "ranges")
    assert check.passed and check.severity == "error"


def test_values_outside_the_range_are_an_error(tmp_path: Path) -> None:
    write_checks(tmp_path, table(), ranges="error")
    message = refused(tmp_path, out_of_range())
    assert "column 'amount' has values outside its range (0.0, 200.0) in schema.yaml" in message
    assert "widen min/max" in message
    assert "2 value(s)" in message
    assert "row 3: '250.0'" in message and "row 7: '-5.0'" in message


def test_values_outside_the_range_warn(tmp_path: Path) -> None:
    write_checks(tmp_path, table(), ranges="warn")
    dataset = ingest(tmp_path, out_of_range())
    assert dataset.report.passed
    (warning,) = dataset.report.warnings
    assert (warning.name, warning.column, warning.severity) == ("ranges", "amount", "warn")
    assert warning.n_failed == 2 and warning.rows == (3, 7)
    assert warning.examples == ("250.0", "-5.0")
    assert dataset.frame.loc[3, "amount"] == 250.0  # reported, not changed


def test_ranges_off_checks_nothing(tmp_path: Path) -> None:
    write_checks(tmp_path, table(), ranges="off")
    dataset = ingest(tmp_path, out_of_range())
    assert dataset.report.passed and dataset.report.warnings == []
    assert "ranges" not in names(dataset)


def test_a_one_sided_range_bounds_one_side(tmp_path: Path) -> None:
    frame = table()
    schema = infer_schema(frame, DATA)
    schema.columns["amount"].min, schema.columns["amount"].max = 50.0, None
    schema.checks.ranges = "error"
    write_schema(schema, tmp_path / "schema.yaml")
    frame.loc[5, "amount"] = 1e9  # no maximum
    message = refused(tmp_path, frame)
    # 10, 20, 30 and 40 in rows 0 to 3 are below the minimum 50
    assert "4 value(s)" in message and "row 0: '10.0'" in message and "row 5" not in message


# --- min_rows ---------------------------------------------------------------------------


def test_enough_rows_pass(tmp_path: Path) -> None:
    frame = table(12)
    write_checks(tmp_path, frame, min_rows_count=12)
    check = only(ingest(tmp_path, frame), "min_rows")
    assert check.passed and check.severity == "error" and check.message == "12 rows"


def test_too_few_rows_are_an_error(tmp_path: Path) -> None:
    write_checks(tmp_path, table(12), min_rows_count=13)
    message = refused(tmp_path, table(12))
    assert "12 rows, fewer than the minimum 13" in message


def test_too_few_rows_warn(tmp_path: Path) -> None:
    write_checks(tmp_path, table(12), min_rows="warn", min_rows_count=13)
    dataset = ingest(tmp_path, table(12))
    assert dataset.report.passed
    (warning,) = dataset.report.warnings
    assert (warning.name, warning.severity) == ("min_rows", "warn")
    assert warning.message.startswith("12 rows, fewer than the minimum 13: add rows")


def test_min_rows_off_checks_nothing(tmp_path: Path) -> None:
    write_checks(tmp_path, table(12), min_rows="off", min_rows_count=1000)
    dataset = ingest(tmp_path, table(12))
    assert dataset.report.passed and "min_rows" not in names(dataset)


def test_a_first_table_below_the_default_minimum_is_refused(tmp_path: Path) -> None:
    # No schema.yaml yet: the inferred one asks for 50 rows, and none is written.
    message = refused(tmp_path, table(49))
    assert "49 rows, fewer than the minimum 50" in message
    assert not (tmp_path / "schema.yaml").exists()


# --- monotonic timestamps ---------------------------------------------------------------


def back_in_time() -> pd.DataFrame:
    frame = table()
    frame.loc[4, "t"] = pd.Timestamp("2025-12-01", tz="UTC")  # before row 3's
    return frame


def test_timestamps_that_never_decrease_pass(tmp_path: Path) -> None:
    frame = table()
    frame.loc[5, "t"] = frame.loc[4, "t"]  # equal stamps are in order
    write_checks(tmp_path, frame, monotonic_timestamps="error")
    check = only(ingest(tmp_path, frame), "monotonic_timestamps")
    assert check.passed and check.column == "t"


def test_timestamps_going_back_are_an_error(tmp_path: Path) -> None:
    write_checks(tmp_path, table(), monotonic_timestamps="error")
    message = refused(tmp_path, back_in_time())
    assert "'t' goes back in time; sort the export by time" in message
    assert "1 value(s); row 4: '2025-12-01 00:00:00+00:00'" in message


def test_timestamps_going_back_warn(tmp_path: Path) -> None:
    write_checks(tmp_path, table(), monotonic_timestamps="warn")
    dataset = ingest(tmp_path, back_in_time())
    assert dataset.report.passed
    (warning,) = dataset.report.warnings
    assert (warning.name, warning.column, warning.rows) == ("monotonic_timestamps", "t", (4,))


def test_monotonic_timestamps_are_off_by_default(tmp_path: Path) -> None:
    write_checks(tmp_path, table())
    dataset = ingest(tmp_path, back_in_time())
    assert dataset.schema.checks.monotonic_timestamps == "off"
    assert dataset.report.passed and "monotonic_timestamps" not in names(dataset)
