"""``headway validate``, ``headway data versions|show`` and ``headway lineage``, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from headway import PipelineResult, Project
from headway.training.families import FAMILIES
from tests.helpers import make_project, run_cli


def test_validate_infers_schema_and_writes_reports(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=800)
    out = run_cli("validate", "--project", str(root))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "inferred the schema" in out.stdout and (root / "schema.yaml").is_file()
    reports = list((root / ".headway" / "reports").glob("validation-*.json"))
    assert len(reports) == 1 and json.loads(reports[0].read_text())["checks"]
    assert list((root / ".headway" / "reports").glob("validation-*.html"))

    versions = json.loads(run_cli("data", "versions", "--project", str(root), "--json").stdout)
    assert len(versions) == 1 and versions[0]["n_rows"] == 800
    prefix = versions[0]["content_hash"][:10]
    shown = run_cli("data", "show", prefix, "--project", str(root), "--json")
    assert shown.returncode == 0
    assert json.loads(shown.stdout)["version"]["content_hash"] == versions[0]["content_hash"]
    missing = run_cli("data", "show", "abcdef99", "--project", str(root))
    assert missing.returncode == 1 and "no dataset version 'abcdef99'" in missing.stderr


def test_validate_reports_every_failure_and_exits_1(tmp_path: Path) -> None:
    root = make_project(tmp_path / "p", rows=800)
    assert run_cli("validate", "--project", str(root)).returncode == 0
    csv = root / "data" / "customers.csv"
    frame = pd.read_csv(csv)
    frame["monthly_charges"] = frame["monthly_charges"].astype(object)
    frame.loc[5, "monthly_charges"] = "free"
    frame.loc[6, "customer_id"] = frame.loc[7, "customer_id"]
    frame.to_csv(csv, index=False)
    out = run_cli("validate", "--project", str(root), "--json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    failed = {(c["name"], c["column"]) for c in doc["report"]["checks"] if not c["passed"]}
    assert {("types", "monthly_charges"), ("unique_id", "customer_id")} <= failed
    assert (
        len(json.loads(run_cli("data", "versions", "--project", str(root), "--json").stdout)) == 1
    )


def test_lineage_of_the_champion(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    out = run_cli("lineage", "churn@champion", "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["dataset"]["hash"] == result.dataset.content_hash
    assert doc["dataset"]["n_rows"] == result.dataset.n_rows
    assert doc["run"]["run_id"] == result.run_id and doc["run"]["status"] == "FINISHED"
    assert doc["model_version"]["version"] == result.version.version
    assert "champion" in doc["aliases"]
    assert doc["code"]["config_hash"] == project.config.config_hash()
    assert doc["packages"]["mlflow"].startswith("3.17")
    tree = run_cli("lineage", f"churn/{result.version.version}", "--project", str(project.root))
    assert "lineage of churn/" in tree.stdout and "@champion" in tree.stdout
    unknown = run_cli("lineage", "churn@nobody", "--project", str(project.root))
    assert unknown.returncode == 1 and "no model version at churn@nobody" in unknown.stderr


@pytest.mark.slow
def test_reproduce_the_champion(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    version = f"churn/{result.version.version}"
    out = run_cli("reproduce", version, "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    assert doc["matches"] is True and doc["max_abs_diff"] <= 1e-9
    assert doc["n_trials"] == result.model.n_trials
    assert doc["family"] == doc["reproduced_family"] == result.model.family
    assert doc["dataset_hash"] == result.dataset.content_hash
    missing = run_cli("reproduce", "churn/99", "--project", str(project.root))
    assert missing.returncode == 1 and "no version 99 of model 'churn'" in missing.stderr


def test_runs_and_compare(trained: tuple[Project, PipelineResult], tmp_path: Path) -> None:
    project, result = trained
    out = run_cli("runs", "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stderr
    parents = json.loads(out.stdout)
    parent = next(p for p in parents if p["run_id"] == result.run_id)
    assert len(parent["trials"]) == result.model.n_trials
    assert parent["params"]["best.family"] == result.model.family
    assert parent["metrics"]["n_trials"] == result.model.n_trials
    assert {t["params"]["family"] for t in parent["trials"]} <= set(FAMILIES)
    table = run_cli("runs", "--project", str(project.root), "--trials")
    assert table.returncode == 0 and result.run_id[:12] in table.stdout
    assert table.stdout.count("trial-") == result.model.n_trials
    first, second = parent["trials"][0]["run_id"], parent["trials"][1]["run_id"]
    compared = json.loads(
        run_cli("compare", first, second, "--project", str(project.root), "--json").stdout
    )
    keys = {row["key"]: row for row in compared["rows"]}
    assert keys["valid_roc_auc"]["kind"] == "metric"
    assert keys["valid_roc_auc"]["differs"] is True
    bad = run_cli("compare", first, "nope", "--project", str(project.root))
    assert bad.returncode == 1 and "no run 'nope'" in bad.stderr
    empty = make_project(tmp_path / "fresh", rows=300)
    assert "No runs yet" in run_cli("runs", "--project", str(empty)).stdout


def test_audit_log_records_the_run(trained: tuple[Project, PipelineResult]) -> None:
    project, result = trained
    out = run_cli("audit", "--project", str(project.root), "--json")
    assert out.returncode == 0, out.stderr
    events = [e for e in json.loads(out.stdout) if e["version"] == result.version.version]
    assert [e["action"] for e in events] == ["registered", "blessed", "promoted"]
    assert events[0]["details"]["run_id"] == result.run_id
    assert events[0]["details"]["dataset_hash"] == result.dataset.content_hash
    assert events[1]["reason"] == "; ".join(result.blessing.reasons)
    assert all(e["actor"] and e["at"].endswith("+00:00") for e in events)
    table = run_cli("audit", "--project", str(project.root), "--action", "promoted")
    assert table.returncode == 0 and "promoted" in table.stdout
    bad = run_cli("audit", "--project", str(project.root), "--action", "deleted")
    assert bad.returncode == 1 and "unknown --action 'deleted'" in bad.stderr
