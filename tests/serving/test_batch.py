"""``headway predict``: batch scoring with the server's answers, chunked, logged, in bounded
memory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from headway import PipelineResult, Project
from headway.predictions import open_prediction_log
from headway.serving.model import ServedModel
from tests.helpers import run_cli

Trained = tuple[Project, PipelineResult]


@pytest.fixture(scope="module")
def table(trained: Trained) -> pd.DataFrame:
    """The project's rows without the target (ids kept), as pandas reads the CSV."""
    project, _ = trained
    assert project.data_path is not None
    frame = pd.read_csv(project.data_path, dtype={"customer_id": str})
    return frame.drop(columns=["churned"])


@pytest.fixture(scope="module")
def expected(served: ServedModel, table: pd.DataFrame) -> dict[str, Any]:
    """What the server answers for every row of ``table``."""
    return served.predict(table)


def _predict(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli("predict", "--project", str(project.root), *args)


def _summary(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(json.loads(out.stdout))


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"customer_id": str, "model_version": str})
    return pd.read_parquet(path)


def _assert_answers(got: pd.DataFrame, table: pd.DataFrame, expected: dict[str, Any]) -> None:
    assert len(got) == len(table)
    assert got["customer_id"].tolist() == table["customer_id"].tolist()
    assert got["prediction"].tolist() == expected["predictions"]
    np.testing.assert_allclose(got["probability"], expected["probabilities"], atol=1e-6, rtol=0)
    assert got["prediction_id"].is_unique
    assert got["prediction_id"].str.fullmatch(r"[0-9a-f]{32}").all()


def test_csv_in_parquet_out_answers_as_the_server(
    trained: Trained, table: pd.DataFrame, expected: dict[str, Any], tmp_path: Path
) -> None:
    project, result = trained
    source = tmp_path / "rows.csv"
    table.to_csv(source, index=False)
    output = tmp_path / "out" / "scored.parquet"

    summary = _summary(
        _predict(project, "--input", str(source), "--output", str(output), "--no-log", "--json")
    )

    got = _read(output)
    _assert_answers(got, table, expected)
    assert list(got.columns) == [
        "customer_id",
        "prediction_id",
        "prediction",
        "probability",
        "model_name",
        "model_version",
    ]
    assert set(got["model_name"]) == {result.version.name}
    assert set(got["model_version"]) == {result.version.version}
    assert summary["rows"] == len(table)
    assert summary["files"] == [str(source)]
    assert summary["output"] == str(output)
    assert (summary["model"], summary["version"]) == (result.version.name, result.version.version)
    assert summary["logged"] == 0
    assert sorted(p.name for p in output.parent.iterdir()) == ["scored.parquet"]


def test_parquet_in_csv_out_answers_as_the_server(
    trained: Trained, table: pd.DataFrame, expected: dict[str, Any], tmp_path: Path
) -> None:
    project, result = trained
    source = tmp_path / "rows.parquet"
    table.to_parquet(source, index=False)
    output = tmp_path / "scored.csv"

    summary = _summary(
        _predict(
            project,
            "--input",
            str(source),
            "--output",
            str(output),
            "--model",
            f"{result.version.name}/{result.version.version}",
            "--no-log",
            "--json",
        )
    )

    got = _read(output)
    _assert_answers(got, table, expected)
    assert set(got["model_version"]) == {result.version.version}
    assert summary["rows"] == len(table)


def test_a_glob_of_two_files(
    trained: Trained, table: pd.DataFrame, expected: dict[str, Any], tmp_path: Path
) -> None:
    project, _ = trained
    half = len(table) // 2
    table.iloc[:half].to_csv(tmp_path / "part-1.csv", index=False)
    table.iloc[half:].to_csv(tmp_path / "part-2.csv", index=False)
    output = tmp_path / "scored.parquet"

    summary = _summary(
        _predict(
            project,
            "--input",
            str(tmp_path / "part-*.csv"),
            "--output",
            str(output),
            "--no-log",
            "--json",
        )
    )

    assert summary["files"] == [str(tmp_path / "part-1.csv"), str(tmp_path / "part-2.csv")]
    assert summary["rows"] == len(table)
    _assert_answers(_read(output), table, expected)


def test_small_chunks_answer_as_one_chunk(
    trained: Trained, table: pd.DataFrame, tmp_path: Path
) -> None:
    project, _ = trained
    source = tmp_path / "rows.csv"
    table.to_csv(source, index=False)
    one, many = tmp_path / "one.parquet", tmp_path / "many.parquet"

    whole = _summary(
        _predict(project, "--input", str(source), "--output", str(one), "--no-log", "--json")
    )
    chunked = _summary(
        _predict(
            project,
            "--input",
            str(source),
            "--output",
            str(many),
            "--chunk-rows",
            "100",
            "--no-log",
            "--json",
        )
    )

    assert whole["chunks"] == 1
    assert chunked["chunks"] == -(-len(table) // 100)
    a, b = _read(one), _read(many)
    columns = ["customer_id", "prediction", "probability", "model_name", "model_version"]
    pd.testing.assert_frame_equal(a[columns], b[columns])
    assert set(a["prediction_id"]).isdisjoint(b["prediction_id"])


def test_every_row_is_logged_with_route_batch(
    trained: Trained, table: pd.DataFrame, expected: dict[str, Any], tmp_path: Path
) -> None:
    project, result = trained
    rows = table.head(300)
    source = tmp_path / "rows.parquet"
    rows.to_parquet(source, index=False)
    logged, unlogged = tmp_path / "logged.csv", tmp_path / "unlogged.csv"

    summary = _summary(
        _predict(
            project,
            "--input",
            str(source),
            "--output",
            str(logged),
            "--chunk-rows",
            "128",
            "--json",
        )
    )
    quiet = _summary(
        _predict(project, "--input", str(source), "--output", str(unlogged), "--no-log", "--json")
    )

    ids = _read(logged)["prediction_id"].tolist()
    other_ids = _read(unlogged)["prediction_id"].tolist()
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        found = log.get(ids)
        missing = log.get(other_ids)
    assert summary["logged"] == len(rows)
    assert quiet["logged"] == 0
    assert missing.empty
    assert sorted(found["prediction_id"]) == sorted(ids)
    assert set(found["route"]) == {"batch"}
    assert set(found["model_name"]) == {result.version.name}
    assert set(found["model_version"]) == {result.version.version}
    by_id = found.set_index("prediction_id")
    first = by_id.loc[ids[0]]
    assert first["outputs"]["prediction"] == expected["predictions"][0]
    assert first["outputs"]["probability"] == pytest.approx(expected["probabilities"][0], abs=1e-6)
    assert first["inputs"]["tenure_months"] == rows["tenure_months"].iloc[0]
    assert first["inputs"]["plan"] == rows["plan"].iloc[0]
    assert "customer_id" not in first["inputs"]


def test_a_schema_error_stops_the_job_naming_file_row_and_column(
    trained: Trained, table: pd.DataFrame, tmp_path: Path
) -> None:
    project, _ = trained
    rows = table.head(400).copy()
    rows["tenure_months"] = rows["tenure_months"].astype(object)
    rows.loc[250, "tenure_months"] = "lots"
    source = tmp_path / "rows.csv"
    rows.to_csv(source, index=False)
    output = tmp_path / "out" / "scored.parquet"
    output.parent.mkdir()

    out = _predict(project, "--input", str(source), "--output", str(output), "--chunk-rows", "100")

    assert out.returncode == 1
    assert str(source) in out.stderr
    assert "row 250" in out.stderr
    assert "'tenure_months'" in out.stderr
    assert list(output.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ("--input", "{tmp}/nothing-*.csv"), "no file matches"),
        (None, ("--input", "{tmp}/absent.csv"), "no such input file"),
        ("rows.txt", ("--input", "{tmp}/rows.txt"), "must be a .csv or .parquet"),
        ("rows.csv", ("--input", "{tmp}/rows.csv", "--output", "{tmp}/o.json"), ".json"),
        ("no_plan.csv", ("--input", "{tmp}/no_plan.csv"), "'plan'"),
        ("rows.csv", ("--input", "{tmp}/rows.csv", "--model", "churn/99"), "99"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    trained: Trained,
    table: pd.DataFrame,
    tmp_path: Path,
    make: str | None,
    args: tuple[str, ...],
    message: str,
) -> None:
    project, _ = trained
    work = tmp_path / "work"
    work.mkdir()
    if make is not None:
        rows = table.head(20)
        if make.startswith("no_plan"):
            rows = rows.drop(columns=["plan"])
        rows.to_csv(work / make, index=False)
    given = [a.format(tmp=work) for a in args]
    if "--output" not in given:
        given += ["--output", str(work / "scored.parquet")]
    before = sorted(p.name for p in work.iterdir())

    out = _predict(project, *given)

    assert out.returncode == 1, out.stdout
    assert message in out.stderr
    assert sorted(p.name for p in work.iterdir()) == before


_MEASURE = """
import json, resource, sys
from headway.cli import app

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

project, small, big, out_small, out_big, *extra = sys.argv[1:]
common = ["predict", "--project", project, "--no-log", "--json", *extra]
app([*common, "--input", small, "--output", out_small], standalone_mode=False)
before = peak()
app([*common, "--input", big, "--output", out_big], standalone_mode=False)
print(json.dumps({"before": before, "after": peak()}))
"""


@pytest.mark.parametrize("suffix", [".parquet", pytest.param(".csv", marks=pytest.mark.slow)])
def test_a_million_rows_in_bounded_memory(
    trained: Trained, served: ServedModel, table: pd.DataFrame, tmp_path: Path, suffix: str
) -> None:
    project, _ = trained
    base = pa.Table.from_pandas(table, preserve_index=False)
    repeats = -(-1_000_000 // len(table))
    big = tmp_path / f"big{suffix}"
    kind: Any = pq.ParquetWriter if suffix == ".parquet" else pacsv.CSVWriter
    with kind(big, base.schema) as writer:
        for _ in range(repeats):
            writer.write_table(base)
    n_rows = repeats * len(table)
    in_memory = base.nbytes * repeats  # the whole file as Arrow columns
    # The warm-up file holds two default chunks: the model, the imports and the memory of
    # scoring one chunk are paid before the big file starts, so what grows after is what
    # grows with the file.
    small = tmp_path / f"small{suffix}"
    with kind(small, base.schema) as writer:
        writer.write_table(pa.concat_tables([base] * -(-100_000 // len(table))).slice(0, 100_000))
    output = tmp_path / "big-scored.parquet"

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            _MEASURE,
            str(project.root),
            str(small),
            str(big),
            str(tmp_path / "small-scored.parquet"),
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert out.returncode == 0, out.stderr[-3000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    growth = measured["after"] - measured["before"]
    print(
        f"{n_rows} rows ({in_memory >> 20} MiB as Arrow): peak RSS "
        f"{measured['before'] >> 20} -> {measured['after'] >> 20} MiB"
    )
    assert growth < in_memory / 4
    scored = pq.ParquetFile(output)
    assert scored.metadata.num_rows == n_rows
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n_rows, size=300, replace=False))
    got = pq.read_table(output).take(pa.array(sample)).to_pandas()
    rows = table.iloc[sample % len(table)].reset_index(drop=True)
    want = served.predict(rows)
    assert got["customer_id"].tolist() == rows["customer_id"].tolist()
    assert got["prediction"].tolist() == want["predictions"]
    np.testing.assert_allclose(got["probability"], want["probabilities"], atol=1e-6, rtol=0)


@pytest.mark.slow
def test_ray_executor_answers_as_the_server(
    trained: Trained, table: pd.DataFrame, tmp_path: Path
) -> None:
    project, _ = trained
    rows = table.head(500)
    source = tmp_path / "rows.parquet"
    rows.to_parquet(source, index=False)
    output = tmp_path / "scored.parquet"
    reference = tmp_path / "reference.parquet"

    summary = _summary(
        _predict(
            project,
            "--input",
            str(source),
            "--output",
            str(output),
            "--executor",
            "ray",
            "--chunk-rows",
            "100",
            "--json",
        )
    )
    _summary(
        _predict(project, "--input", str(source), "--output", str(reference), "--no-log", "--json")
    )

    got, want = _read(output), _read(reference)
    assert summary["executor"] == "ray"
    assert summary["rows"] == summary["logged"] == len(rows)
    columns = ["customer_id", "prediction", "probability", "model_name", "model_version"]
    pd.testing.assert_frame_equal(got[columns], want[columns])
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        found = log.get(got["prediction_id"].tolist())
    assert len(found) == len(rows)
    assert set(found["route"]) == {"batch"}
