"""Data stage cost: ingest + validate + version against its floor, on 1M rows x 30 columns.

The floor is what any careful pipeline pays at least: parse the CSV with pandas (pyarrow
engine) and validate it with pandera against the same rules (types, nulls, ranges,
categories, unique id). headway adds content hashing, schema inference, leakage and
duplicate checks, and the Parquet snapshot; a second run on unchanged data reuses the
snapshot. Each case runs in its own process so that peak memory is its own.

    python bench/ingest.py                 # 1,000,000 rows
    python bench/ingest.py --rows 200000
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_table(rows: int, path: Path) -> None:
    from headway.datasets import make_churn

    frame = make_churn(rows, seed=0)
    rng = np.random.default_rng(1)
    for i in range(8):
        frame[f"num_{i}"] = rng.normal(i, 1 + i, rows).round(4)
    for i in range(4):
        frame[f"count_{i}"] = rng.poisson(3 + i, rows)
    for i in range(3):
        frame[f"cat_{i}"] = rng.choice([f"v{j}" for j in range(5 + 10 * i)], rows)
    frame.to_csv(path, index=False)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_floor(csv: Path, schema_path: Path) -> dict[str, float]:
    import pandera.pandas as pa

    from headway.data.schema import load_schema

    schema = load_schema(schema_path)
    started = time.perf_counter()
    frame = pd.read_csv(csv, engine="pyarrow")
    read = time.perf_counter() - started
    columns = {}
    for name, col in schema.columns.items():
        checks = []
        if col.min is not None and col.max is not None and col.role == "feature":
            checks.append(pa.Check.in_range(col.min, col.max))
        if col.categories is not None and col.role == "feature":
            checks.append(pa.Check.isin(col.categories))
        columns[name] = pa.Column(
            checks=checks, nullable=col.nullable, unique=col.role == "id", required=False
        )
    pa.DataFrameSchema(columns).validate(frame, lazy=True)
    total = time.perf_counter() - started
    return {"wall_s": total, "read_s": read, "peak_mb": _peak_mb()}


def worker_headway(root: Path) -> dict[str, float]:
    from headway.config import DataConfig, SourceConfig
    from headway.data import DatasetStore, ingest_and_validate

    data = DataConfig(
        source=SourceConfig(path="data.csv"),
        target="churned",
        id_column="customer_id",
        timestamp_column="observed_at",
    )
    started = time.perf_counter()
    dataset = ingest_and_validate(
        data, task="binary", root=root, store=DatasetStore(root / ".headway" / "datasets")
    )
    return {
        "wall_s": time.perf_counter() - started,
        "peak_mb": _peak_mb(),
        "reused": float(dataset.reused),
    }


def run_worker(*args: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *paths = args.worker
        result = (
            worker_floor(Path(paths[0]), Path(paths[1]))
            if kind == "floor"
            else worker_headway(Path(paths[0]))
        )
        print(json.dumps(result))
        return

    from rich.console import Console
    from rich.table import Table

    root = Path(tempfile.mkdtemp(prefix="headway-bench-ingest-"))
    try:
        csv = root / "data.csv"
        make_table(args.rows, csv)
        size_mb = csv.stat().st_size / 2**20
        first = run_worker("headway", str(root))  # infers and writes schema.yaml
        floor = run_worker("floor", str(csv), str(root / "schema.yaml"))
        again = run_worker("headway", str(root))
        shutil.rmtree(root / ".headway")
        cold = run_worker("headway", str(root))  # schema exists: a plain validated ingest
    finally:
        shutil.rmtree(root, ignore_errors=True)

    table = Table(title=f"{args.rows:,} rows x 30 columns, CSV {size_mb:,.0f} MiB")
    for column in ("case", "wall s", "peak MiB", "wall / floor"):
        table.add_column(column, justify="right")
    rows = [
        ("floor: pandas read + pandera", floor),
        ("headway, first run (infers schema)", first),
        ("headway, schema.yaml present", cold),
        ("headway, unchanged data (reused)", again),
    ]
    for name, result in rows:
        ratio = result["wall_s"] / floor["wall_s"]
        table.add_row(name, f"{result['wall_s']:.2f}", f"{result['peak_mb']:,.0f}", f"{ratio:.2f}x")
    Console().print(table)
    print(f"floor read alone: {floor['read_s']:.2f}s; python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
