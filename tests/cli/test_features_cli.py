"""``headway features apply|list`` through the real command."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from headway.controlplane import FeatureRegistry
from headway.pipeline.run import run_pipeline
from headway.project import Project
from tests.helpers import make_feature_project, run_cli


def test_apply_then_list_with_the_versions_that_use_them(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    out = run_cli("features", "apply", "--project", str(project.root), "--json", "--by", "ana")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["added"] == [
        "entity:customer",
        "feature_view:profile",
        "feature_view:usage",
        "on_demand_feature:charges_per_product",
        "service:churn_model",
    ]
    again = json.loads(
        run_cli("features", "apply", "--project", str(project.root), "--json").stdout
    )
    assert again["added"] == [] and len(again["unchanged"]) == 5
    assert again["definitions_hash"] == doc["definitions_hash"]

    version = run_pipeline(project).version.version
    listed = run_cli("features", "list", "--project", str(project.root), "--json")
    assert listed.returncode == 0, listed.stderr
    items = {(i["kind"], i["name"]): i for i in json.loads(listed.stdout)["items"]}
    assert items[("service", "churn_model")]["used_by"] == [f"churn/{version}"]
    assert items[("feature_view", "usage")]["used_by"] == [f"churn/{version}"]
    assert items[("feature_view", "profile")]["owner"] == "crm"
    assert items[("entity", "customer")]["used_by"] == []


def test_a_source_missing_a_declared_column_registers_nothing(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    usage = pd.read_parquet(project.root / "usage.parquet").drop(columns="num_products")
    usage.to_parquet(project.root / "usage.parquet")
    out = run_cli("features", "apply", "--project", str(project.root))
    assert out.returncode == 1
    assert "feature view usage: its source lacks the declared columns ['num_products']" in (
        out.stderr
    )
    with FeatureRegistry.for_project(Project.load(project.root)) as registry:
        assert registry.items() == []


def test_materialize_incremental_continues_where_the_last_run_ended(tmp_path: Path) -> None:
    project = make_feature_project(tmp_path / "churn")
    root = str(project.root)
    first = run_cli(
        "features", "materialize-incremental", "--project", root, "--end", "2025-01-01", "--json"
    )
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert doc["windows"]["profile"][0] is None  # from the beginning
    assert 0 < doc["rows"]["profile"] <= 800
    second = json.loads(
        run_cli("features", "materialize-incremental", "--project", root, "--json").stdout
    )
    assert second["windows"]["usage"][0] == doc["windows"]["usage"][1]
    assert second["rows"]["usage"] > 0  # the rows of 2025 and later
    third = json.loads(
        run_cli(
            "features", "materialize-incremental", "--project", root, "--view", "usage",
            "--end", "2025-01-01", "--json",
        ).stdout
    )  # fmt: skip
    assert third["rows"] == {"usage": 0}  # nothing new before what was already done
