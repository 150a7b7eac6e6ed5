"""The real ``headway`` entry point: happy paths, and bad input that registers nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from headway import PipelineResult, Project
from tests.helpers import make_project, run_cli


def assert_nothing_registered(root: Path) -> None:
    db = root / ".headway" / "mlflow.db"
    if db.exists():
        out = run_cli("status", "--project", str(root), "--json")
        assert json.loads(out.stdout)["models"] == []


def test_help_lists_the_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0
    for command in ("quickstart", "init", "run", "serve", "status"):
        assert command in out.stdout


def test_init_writes_project(tmp_path: Path) -> None:
    out = run_cli("init", str(tmp_path / "p"), "--example", "churn", "--rows", "300")
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "p" / "headway.yaml").is_file()
    assert (tmp_path / "p" / "data" / "customers.csv").is_file()
    assert ".headway/" in (tmp_path / "p" / ".gitignore").read_text()
    again = run_cli("init", str(tmp_path / "p"), "--rows", "300")
    assert again.returncode == 1 and "already exists" in again.stderr


def test_status_before_any_run(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=300)
    out = run_cli("status", "--project", str(root), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["models"] == [] and doc["project"] == "churn"
    assert not (root / ".headway" / "mlflow.db").exists()


def test_status_of_trained_project(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    out = run_cli("status", "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stderr
    (model,) = json.loads(out.stdout)["models"]
    assert model["name"] == "churn"
    assert model["aliases"]["champion"] == result.version.version
    version = next(v for v in model["versions"] if v["version"] == result.version.version)
    assert version["blessed"] is True
    assert version["metrics"]["roc_auc"] == pytest.approx(
        result.evaluation.metrics["roc_auc"], abs=1e-6
    )
    table = run_cli("status", "--project", str(project.root))
    assert "@champion" in table.stdout and "roc_auc" in table.stdout


def _edit(root: Path, change: dict[str, object]) -> None:
    path = root / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    config.update(change)
    path.write_text(yaml.safe_dump(config))


def _data(path: str, target: str = "churned") -> dict[str, object]:
    return {"source": {"path": path}, "target": target, "id_column": "customer_id"}


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("missing_file", ["data/nope.csv", "data file not found"]),
        ("empty_file", ["empty.csv", "the data file is empty"]),
        ("target_absent", ["column 'label' (data.target) is not in the data"]),
        ("target_all_null", ["'churned' has only missing values"]),
        ("unknown_key", ["unknown key 'trainng'", "Did you mean 'training'"]),
        ("wrong_type", ["key 'seed'", "'lots'"]),
        ("missing_required", ["required key 'task' is missing"]),
    ],
)
def test_bad_input_fails_clearly_and_registers_nothing(
    tmp_path: Path, setup: str, expected: list[str]
) -> None:
    root = make_project(tmp_path / "p", rows=400)
    if setup == "missing_file":
        _edit(root, {"data": _data("data/nope.csv")})
    elif setup == "empty_file":
        (root / "empty.csv").write_text("")
        _edit(root, {"data": _data("empty.csv")})
    elif setup == "target_absent":
        _edit(root, {"data": _data("data/customers.csv", target="label")})
    elif setup == "target_all_null":
        csv = root / "data" / "customers.csv"
        text = csv.read_text().splitlines()
        header = text[0].split(",")
        i = header.index("churned")
        rows = [
            ",".join(v if j != i else "" for j, v in enumerate(ln.split(","))) for ln in text[1:]
        ]
        csv.write_text("\n".join([text[0], *rows]) + "\n")
    elif setup == "unknown_key":
        _edit(root, {"trainng": {"budget": {"trials": 3}}})
    elif setup == "wrong_type":
        _edit(root, {"seed": "lots"})
    elif setup == "missing_required":
        config = yaml.safe_load((root / "headway.yaml").read_text())
        del config["task"]
        (root / "headway.yaml").write_text(yaml.safe_dump(config))
    out = run_cli("run", "--project", str(root))
    assert out.returncode == 1, out.stdout + out.stderr
    for fragment in expected:
        assert fragment in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert_nothing_registered(root)


def test_project_directory_that_does_not_exist(tmp_path: Path) -> None:
    for command in ("run", "status", "serve"):
        out = run_cli(command, "--project", str(tmp_path / "missing"))
        assert out.returncode == 1
        assert "missing: project directory does not exist" in out.stderr


def test_serve_without_champion_exits_with_hint(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=300)
    out = run_cli("serve", "--project", str(root), "--port", "0")
    assert out.returncode == 1
    assert "models:/churn@champion" in out.stderr and "headway run" in out.stderr
