from __future__ import annotations

import subprocess
from pathlib import Path

from headway.lineage import code_revision, environment


def test_code_revision_of_a_git_project(tmp_path: Path) -> None:
    assert code_revision(tmp_path) == {}
    git = ["git", "-C", str(tmp_path), "-c", "user.email=a@b.c", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "f.txt").write_text("x")
    subprocess.run([*git, "add", "f.txt"], check=True)
    subprocess.run([*git, "commit", "-qm", "m"], check=True)
    clean = code_revision(tmp_path)
    assert len(clean["git_commit"]) == 40 and clean["git_dirty"] == "false"
    (tmp_path / "f.txt").write_text("y")
    assert code_revision(tmp_path)["git_dirty"] == "true"


def test_environment_names_versions() -> None:
    env = environment()
    assert env["mlflow"].startswith("3.17")
    assert env["python"].count(".") == 2
