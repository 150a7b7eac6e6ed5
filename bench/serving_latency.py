"""Serving latency: ``headway serve`` against MLflow's scoring server, same model and requests.

Both servers serve ``models:/churn@champion`` of one project on 127.0.0.1 at the same time;
requests are sent one after another over a keep-alive connection, in rounds that alternate
between the servers (so that machine noise hits both alike), for batches of 1 and 100 rows.
Every loop is bounded. Prints medians and p95 per server and the MLflow/headway ratio.

    python bench/serving_latency.py                 # makes a 20k-row churn project in a temp dir
    python bench/serving_latency.py --project DIR   # an already trained project
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import optuna
import pandas as pd
from rich.console import Console
from rich.table import Table

from headway import Project, run_pipeline
from headway.datasets import write_example


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], path: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode})")
        try:
            if httpx.get(url + path, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def measure(url: str, body: dict[str, object], n: int) -> list[float]:
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(min(10, n)):  # warm-up
            client.post("/invocations", json=body).raise_for_status()
        for _ in range(n):
            started = time.perf_counter()
            client.post("/invocations", json=body).raise_for_status()
            latencies.append(time.perf_counter() - started)
    return latencies


def _cases(servers: dict[str, object]) -> list[tuple[str, int]]:
    return [(name, batch) for batch in (1, 100) for name in servers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="trained headway project (default: make one)")
    parser.add_argument("--requests", type=int, default=600, help="timed requests per case")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    workdir = Path(tempfile.mkdtemp(prefix="headway-bench-"))
    if args.project is None:
        root = workdir / "churn"
        write_example("churn", root, n_rows=20_000)
        project = Project.load(root)
        run_pipeline(project)
    else:
        project = Project.load(args.project)
    frame = pd.read_csv(project.data_path, nrows=100).drop(columns=[project.config.data.target])
    frame = frame.drop(
        columns=[project.config.data.id_column, project.config.data.timestamp_column]
    )
    rows = frame.astype(object).where(frame.notna(), None).to_numpy().tolist()

    def body(n: int) -> dict[str, object]:
        return {"dataframe_split": {"columns": list(frame.columns), "data": rows[:n]}}

    env = {**os.environ, "MLFLOW_TRACKING_URI": project.tracking_uri}
    headway_port, mlflow_port = free_port(), free_port()
    headway_exe = shutil.which("headway") or "headway"
    mlflow_exe = shutil.which("mlflow") or "mlflow"
    servers = {
        "headway": (
            [headway_exe, "serve", "--project", str(project.root), "--port", str(headway_port)],
            f"http://127.0.0.1:{headway_port}",
            "/health/ready",
        ),
        "mlflow": (
            [
                mlflow_exe,
                "models",
                "serve",
                "-m",
                f"models:/{project.config.model_name}@champion",
                "--env-manager",
                "local",
                "-p",
                str(mlflow_port),
                "-h",
                "127.0.0.1",
                "-w",
                "1",
            ],
            f"http://127.0.0.1:{mlflow_port}",
            "/ping",
        ),
    }
    results: dict[tuple[str, int], list[float]] = {key: [] for key in _cases(servers)}
    procs = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for cmd, _, _ in servers.values()
    ]
    try:
        for proc, (_, url, ready) in zip(procs, servers.values(), strict=True):
            wait_ready(url, proc, ready)
        per_round = max(1, args.requests // args.rounds)
        for _ in range(args.rounds):
            for name, batch in _cases(servers):
                results[(name, batch)] += measure(servers[name][1], body(batch), per_round)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)

    table = Table(title=f"POST /invocations, {args.requests} sequential requests per case")
    for column in ("batch rows", "server", "median ms", "p95 ms", "rows/s", "mlflow / headway"):
        table.add_column(column, justify="right")
    for batch in (1, 100):
        base = statistics.median(results[("headway", batch)])
        for name in ("headway", "mlflow"):
            lat = sorted(results[(name, batch)])
            median = statistics.median(lat)
            p95 = lat[int(0.95 * (len(lat) - 1))]
            table.add_row(
                str(batch),
                name,
                f"{median * 1e3:.2f}",
                f"{p95 * 1e3:.2f}",
                f"{batch / median:,.0f}",
                f"{median / base:.2f}x",
            )
    Console().print(table)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
