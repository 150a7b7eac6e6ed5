"""Helpers shared by the tests: a small churn project, the real CLI, a free port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from headway.datasets import write_example

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
