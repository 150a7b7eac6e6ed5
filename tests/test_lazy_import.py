"""``import headway`` and ``headway --help`` load no heavy library."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

# The libraries a command pays for only when it needs them.
HEAVY = (
    "mlflow",
    "optuna",
    "sklearn",
    "matplotlib",
    "lightgbm",
    "xgboost",
    "scipy",
    "pandas",
    "numpy",
    "pyarrow",
    "duckdb",
    "pandera",
    "sqlalchemy",
    "alembic",
    "fastapi",
    "uvicorn",
    "httpx",
    "jinja2",
    "fairlearn",
    "shap",
    "ray",
)


def _imported(*args: str) -> set[str]:
    """Top-level packages imported by ``python -X importtime ARGS`` (importtime lists every
    module the interpreter imports, on stderr)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    names = re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", out.stderr, re.M)
    assert names, "importtime printed nothing"
    return {name.split(".")[0] for name in names}


def test_import_headway_loads_nothing_heavy() -> None:
    loaded = _imported("-c", "import headway; headway.__version__")
    assert "headway" in loaded
    assert sorted(loaded & set(HEAVY)) == []


def test_headway_help_loads_nothing_heavy() -> None:
    loaded = _imported("-m", "headway", "--help")
    assert "typer" in loaded
    assert sorted(loaded & set(HEAVY)) == []


@pytest.mark.parametrize("command", ["run", "serve", "audit", "validate", "gate"])
def test_command_help_loads_nothing_heavy(command: str) -> None:
    loaded = _imported("-m", "headway", command, "--help")
    assert sorted(loaded & set(HEAVY)) == []


def test_public_names_still_resolve() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import headway, sys; headway.Project; headway.run_pipeline; "
            "print('mlflow' in sys.modules, sorted(set(headway.__all__) - set(dir(headway))))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "[]"]
