"""Helpers shared by the tests: a small churn project, the real CLI, a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pandas as pd
import yaml

from headway.datasets import write_example
from headway.datasets.churn import make_churn
from headway.project import Project

SMALL_ROWS = 3000
FAST_TRIALS = 4


def make_project(directory: Path, *, rows: int = SMALL_ROWS, **overrides: object) -> Path:
    """Write the churn example with a small table and a fast budget; ``overrides`` are
    top-level sections merged into headway.yaml."""
    write_example("churn", directory, n_rows=rows)
    config_path = directory / "headway.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["training"]["budget"] = {"trials": FAST_TRIALS, "timeout_seconds": 60}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


TINY_TRAINING = {
    "budget": {"trials": 2, "timeout_seconds": 60},
    "model_families": ["lightgbm"],
    "n_workers": 1,
}


def make_tiny_project(directory: Path, *, rows: int = 800) -> Path:
    """The churn example with the smallest budget that still trains a real model: two
    LightGBM trials on one worker, no SHAP. For tests about what happens after training."""
    return make_project(directory, rows=rows, training=TINY_TRAINING, evaluation={"explain": False})


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``headway`` entry point in a subprocess."""
    exe = shutil.which("headway", path=str(Path(sys.executable).parent)) or shutil.which("headway")
    assert exe, "the headway console script is not installed (pip install -e .)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWAY_", "MLFLOW_"))}
    clean["COLUMNS"] = "200"  # keep Rich from wrapping messages that tests look for
    return subprocess.run(
        [exe, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean, **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    project_root: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """``headway serve --project project_root`` as a real process on a free 127.0.0.1 port,
    once it is ready: the process (the caller stops it) and its base URL. ``env``: variables
    added to the process's environment."""
    port = free_port()
    exe = shutil.which("headway", path=str(Path(sys.executable).parent)) or shutil.which("headway")
    assert exe, "the headway console script is not installed (pip install -e .)"
    proc = subprocess.Popen(
        [exe, "serve", "--project", str(project_root), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"headway serve exited: {proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    return proc, url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("headway serve did not become ready in 60s")
            time.sleep(0.2)
    except BaseException:
        proc.kill()
        proc.wait(timeout=10)
        raise


@contextmanager
def serving(project_root: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """A :func:`start_server` process for the block; yields its base URL."""
    proc, url = start_server(project_root, *args, env=env)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# The feature views of make_feature_project: feature -> declared type.
PROFILE = {
    "region": "string",
    "plan": "string",
    "contract": "string",
    "payment_method": "string",
    "tenure_months": "int",
    "monthly_charges": "float",
}
USAGE = {"support_tickets_90d": "int", "days_since_last_login": "float", "num_products": "int"}


def make_feature_project(root: Path, *, start: str = "2024-01-01", days: int = 730) -> Project:
    """The tiny churn project trained from an entity table and the feature service
    ``churn_model`` (views ``profile``, TTL 365d, and ``usage``, TTL 30d); every tenth
    customer also has a later profile (plan ``FUTURE``) that no training row may see."""
    make_project(root, rows=800, training=TINY_TRAINING, evaluation={"explain": False})
    table = make_churn(800, seed=3, start=start, days=days)
    when = table["observed_at"]
    entities = pd.DataFrame(
        {"customer_id": table["customer_id"], "event_timestamp": when, "churned": table["churned"]}
    )
    entities.to_parquet(root / "entities.parquet")
    profile = table[["customer_id", *PROFILE]].assign(updated_at=when - timedelta(days=2))
    # A later profile of every tenth customer: it must not reach the training rows.
    future = profile.iloc[::10].assign(
        updated_at=when.iloc[::10] + timedelta(days=1), plan="FUTURE", monthly_charges=-1.0
    )
    pd.concat([profile, future]).to_parquet(root / "profile.parquet")
    usage = table[["customer_id", *USAGE]].assign(day=when - timedelta(hours=1))
    usage.to_parquet(root / "usage.parquet")
    (root / "features.yaml").write_text(
        yaml.safe_dump(
            {
                "entities": [{"name": "customer", "join_keys": ["customer_id"]}],
                "feature_views": [
                    {
                        "name": "profile",
                        "entities": ["customer"],
                        "source": {"type": "parquet", "path": "profile.parquet"},
                        "timestamp_column": "updated_at",
                        "ttl": "365d",
                        "features": [{"name": c, "type": PROFILE[c]} for c in PROFILE],
                        "owner": "crm",
                    },
                    {
                        "name": "usage",
                        "entities": ["customer"],
                        "source": {"type": "parquet", "path": "usage.parquet"},
                        "timestamp_column": "day",
                        "ttl": "30d",
                        "features": [{"name": c, "type": USAGE[c]} for c in USAGE],
                    },
                ],
                "on_demand_features": [
                    {
                        "name": "charges_per_product",
                        "type": "float",
                        "expression": "monthly_charges / num_products",
                    }
                ],
                "services": [
                    {"name": "churn_model", "features": ["profile", "usage", "charges_per_product"]}
                ],
            }
        )
    )
    config_path = root / "headway.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["data"]["source"] = {"path": "entities.parquet"}
    config["data"]["timestamp_column"] = "event_timestamp"
    config["features"] = {"service": "churn_model"}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(root)
