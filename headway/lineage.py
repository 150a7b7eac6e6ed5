"""Lineage facts recorded with every run and model version."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as pkg_version
from pathlib import Path

__all__ = ["code_revision", "environment"]


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=5,
        check=True,
    ).stdout.strip()


def code_revision(directory: Path) -> dict[str, str]:
    """Git commit and dirty flag of ``directory`` when it is inside a git work tree."""
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        dirty = _git(directory, "status", "--porcelain")
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
