"""Lineage facts recorded with every run and model version."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path

__all__ = ["code_revision", "environment"]


def code_revision(directory: Path) -> dict[str, str]:
    """Git commit and dirty flag of ``directory`` when it is inside a git work tree."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"git_commit": commit, "git_dirty": "true" if dirty else "false"}


def environment() -> dict[str, str]:
    """Versions of Python and of the libraries that shape a model."""
    out = {"python": platform.python_version()}
    for name in ("headway", "mlflow", "scikit-learn", "lightgbm", "optuna", "pandas", "numpy"):
        try:
            out[name] = pkg_version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out
