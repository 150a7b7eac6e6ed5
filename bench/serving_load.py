"""Serving under load: ``headway serve`` against MLflow's scoring server and a bare floor.

One LightGBM champion (a 20,000-row churn project trained here, or ``--project DIR``),
served in turn by each contender on 127.0.0.1, alone on the machine while it is measured:

- ``mlflow``: ``mlflow models serve --env-manager local`` with its default worker count;
- ``mlflow -w N``: the same with one worker per core;
- ``floor``: a minimal FastAPI endpoint (uvicorn, one worker per core) that decodes the JSON
  and calls the LightGBM booster on a NumPy row: no checks, no log, no metrics;
- ``headway``: ``headway serve`` as shipped (one worker per core), the prediction log and
  metrics on.

Load comes from ``hey`` (Debian package ``hey``): single-row JSON requests at concurrency 16
and 64, and 100-row requests at concurrency 16, for ``--duration`` seconds each after a
short warm-up. Prints requests/s and p50/p99 latency per case, and headway's ratios to
MLflow and to the floor. Every loop is bounded; servers are stopped on exit.

    python bench/serving_load.py                        # 30 s per case
    python bench/serving_load.py --duration 10 --project DIR
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
import optuna
import pandas as pd
import yaml
from rich.console import Console
from rich.table import Table

from headway import Project, run_pipeline
from headway.datasets import write_example
from headway.features.contract import model_pipeline
from headway.registry import ModelRegistry

CASES = [("1 row, c16", 1, 16), ("1 row, c64", 1, 64), ("100 rows, c16", 100, 16)]

FLOOR_APP = textwrap.dedent(
    """
    import json, os
    import lightgbm as lgb
    import numpy as np
    import orjson
    from fastapi import FastAPI, Request, Response

    spec = json.loads(open(os.environ["FLOOR_SPEC"]).read())
    booster = lgb.Booster(model_file=spec["model"])
    codes = spec["codes"]  # column -> {category: code}; numbers are taken as they come
    order = spec["columns"]
    pad = [0.0] * (spec["width"] - len(order))  # the imputer's missing-value indicators
    app = FastAPI()

    @app.post("/invocations")
    async def invocations(request: Request) -> Response:
        doc = orjson.loads(await request.body())["dataframe_split"]
        index = {c: i for i, c in enumerate(doc["columns"])}
        rows = np.array(
            [
                [
                    codes[c].get(row[index[c]], np.nan) if c in codes else row[index[c]]
                    for c in order
                ]
                + pad
                for row in doc["data"]
            ],
            dtype=float,
        )
        scores = booster.predict(rows, num_threads=1)  # one thread per worker process
        return Response(orjson.dumps({"predictions": scores.tolist()}))

    @app.get("/ping")
    async def ping() -> Response:
        return Response(b"{}")
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({proc.returncode})")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def hey(url: str, body: Path, concurrency: int, seconds: float) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms) and the share of non-200 answers from one hey run."""
    load = ["hey", "-z", f"{seconds}s", "-c", str(concurrency), "-m", "POST"]
    out = subprocess.run(
        [*load, "-T", "application/json", "-D", str(body), url],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: int) -> float:
        m = re.search(rf"\s{p}% in ([\d.]+) secs", out)
        return float(m.group(1)) * 1e3 if m else float("nan")

    codes = dict(re.findall(r"\[(\d{3})\]\s+(\d+) responses", out))
    total = sum(int(v) for v in codes.values()) or 1
    errors = 1 - int(codes.get("200", 0)) / total
    return {"rps": rps, "p50": pct(50), "p99": pct(99), "errors": errors}


def floor_spec(project: Project, workdir: Path) -> Path:
    """The champion's booster and its category codes, for the floor server."""
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    estimator = registry.load_estimator(f"models:/{project.config.model_name}@champion")
    pipeline = model_pipeline(estimator)
    pre, model = pipeline.named_steps["preprocess"], pipeline.named_steps["model"]
    path = workdir / "floor-model.txt"
    model.booster_.save_model(str(path))
    codes: dict[str, dict[str, int]] = {}
    columns: list[str] = []
    for name, transformer, cols in pre.transformers_:
        if name == "categorical":
            for col, cats in zip(cols, transformer.categories_, strict=True):
                codes[col] = {str(c): i for i, c in enumerate(cats)}
        if name != "remainder":
            columns.extend(cols)
    # The floor feeds the booster the raw columns (categories as codes) and zeros for the
    # imputer's missing-value indicators, right for the benchmark's complete rows.
    spec = workdir / "floor.json"
    doc = {"model": str(path), "codes": codes, "columns": columns}
    spec.write_text(json.dumps({**doc, "width": model.booster_.num_feature()}))
    return spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="trained headway project (default: make one)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds per case")
    parser.add_argument(
        "--contenders", default="mlflow,mlflow-w,floor,headway", help="comma-separated subset"
    )
    args = parser.parse_args()
    if shutil.which("hey") is None:
        sys.exit("hey is not installed: apt-get install hey")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="headway-bench-"))
    if args.project is None:
        root = workdir / "churn"
        write_example("churn", root, n_rows=20_000)
        config = yaml.safe_load((root / "headway.yaml").read_text())
        config["training"]["model_families"] = ["lightgbm"]  # the champion every server serves
        (root / "headway.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        project = Project.load(root)
        run_pipeline(project)
    else:
        project = Project.load(args.project)
    data = project.config.data
    frame = pd.read_csv(project.data_path).dropna().head(100)
    frame = frame.drop(columns=[data.target, data.id_column, data.timestamp_column])
    rows = frame.astype(object).to_numpy().tolist()
    bodies = {}
    for n in (1, 100):
        path = workdir / f"body-{n}.json"
        path.write_text(
            json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": rows[:n]}})
        )
        bodies[n] = path
    n_cores = cores()
    uri = f"models:/{project.config.model_name}@champion"
    env = {**os.environ, "MLFLOW_TRACKING_URI": project.tracking_uri}
    (workdir / "floor_app.py").write_text(FLOOR_APP)
    env_floor = {**env, "FLOOR_SPEC": str(floor_spec(project, workdir))}
    mlflow = [shutil.which("mlflow") or "mlflow", "models", "serve", "-m", uri]
    mlflow += ["--env-manager", "local", "-h", "127.0.0.1"]

    def command(name: str, port: int) -> tuple[list[str], dict[str, str], str]:
        if name == "mlflow":
            return [*mlflow, "-p", str(port)], env, "/ping"
        if name == "mlflow-w":
            return [*mlflow, "-p", str(port), "-w", str(n_cores)], env, "/ping"
        if name == "floor":
            cmd = [sys.executable, "-m", "uvicorn", "floor_app:app", "--port", str(port)]
            cmd += ["--workers", str(n_cores), "--log-level", "warning", "--no-access-log"]
            return cmd, {**env_floor, "PYTHONPATH": str(workdir)}, "/ping"
        cmd = [shutil.which("headway") or "headway", "serve", "--project", str(project.root)]
        return [*cmd, "--port", str(port), "--workers", str(n_cores)], env, "/health/ready"

    names = args.contenders.split(",")
    results: dict[tuple[str, str], dict[str, float]] = {}
    for name in names:
        port = free_port()
        cmd, cmd_env, ready = command(name, port)
        proc = subprocess.Popen(
            cmd,
            env=cmd_env,
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}{ready}", proc)
            url = f"http://127.0.0.1:{port}/invocations"
            for label, n, concurrency in CASES:
                hey(url, bodies[n], concurrency, min(5.0, args.duration))  # warm-up
                results[(name, label)] = hey(url, bodies[n], concurrency, args.duration)
                print(name, label, results[(name, label)], flush=True)
        finally:
            stop(proc)

    table = Table(title=f"POST /invocations under load (hey, {args.duration:g} s per case)")
    for column in ("case", "server", "requests/s", "p50 ms", "p99 ms", "non-200"):
        table.add_column(column, justify="right")
    table.add_column("headway vs it", justify="right")
    lines = ["| case | server | requests/s | p50 ms | p99 ms | non-200 | headway vs it |"]
    lines.append("|---|---|---:|---:|---:|---:|---|")
    for label, _, _ in CASES:
        ours = results.get(("headway", label))
        for name in names:
            r = results[(name, label)]
            ratio = ""
            if ours is not None and name != "headway":
                ratio = f"{ours['rps'] / r['rps']:.2f}x req/s, p99 {ours['p99'] / r['p99']:.2f}x"
            cells = [
                label,
                name if name != "mlflow-w" else f"mlflow -w {n_cores}",
                f"{r['rps']:,.0f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['errors']:.1%}",
                ratio,
            ]
            table.add_row(*cells)
            lines.append("| " + " | ".join(cells) + " |")
    Console().print(table)
    print("\n".join(lines))
    print(f"python {sys.version.split()[0]}, {n_cores} cores")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
