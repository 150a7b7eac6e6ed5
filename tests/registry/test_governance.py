"""Governance end to end on the credit example: manual promotion, approvals, a weaker
candidate kept out, forced promotion, rollback, archive, gate on demand, model cards.

Each test builds its own project and trains the versions it needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from headway import Project, run_pipeline
from headway.controlplane import AuditLog
from headway.datasets import write_example
from headway.pipeline import approve_version
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry
from tests.helpers import run_cli

# The strongest drivers of default: without them the model is deliberately weaker.
STRONG_DRIVERS = ["debt_to_income", "late_payments_2y", "interest_rate"]


def _set(root: Path, **sections: dict) -> None:
    path = root / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def manual(tmp_path: Path) -> Project:
    """A fresh credit project under ``promotion: manual``, nothing trained yet (SHAP on:
    the top features and the card's figure come from it)."""
    root = tmp_path / "credit"
    write_example("credit", root, n_rows=1500)
    _set(
        root,
        training={
            "budget": {"trials": 2, "timeout_seconds": 60},
            "model_families": ["linear"],
            "n_workers": 1,
        },
        # On these 1,500 rows the full model scores a test AUC near 0.76 and the one without
        # STRONG_DRIVERS near 0.73, too close to the example's bound of 0.70 for a fixed
        # expectation; 0.6 keeps both clear of it, so only the comparison with the champion
        # keeps the weaker one out.
        gates={"min_metrics": {"roc_auc": 0.6}},
        governance={"promotion": "manual"},
    )
    return Project.load(root)


def _approved_champion(project: Project) -> None:
    """Train v1 and approve it (by alice), so that it is the champion."""
    first = run_pipeline(project)
    assert first.version.version == "1" and first.version.aliases == (CHALLENGER,)
    info = approve_version(project, "credit", "1", actor="alice", reason="card reviewed")
    assert info.aliases == (CHAMPION,)


def _cli(project: Project, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(*args, "--project", str(project.root))


def _actions(project: Project, version: str) -> list[str]:
    with AuditLog.for_project(project) as audit:
        return [e.action for e in audit.events(model="credit", version=version)]


def _champion(project: Project) -> str | None:
    info = ModelRegistry(project.tracking_uri).version_by_alias("credit", CHAMPION)
    return None if info is None else info.version


def test_manual_promotion_waits_for_approval(manual: Project) -> None:
    project = manual
    first = run_pipeline(project)
    assert first.blessing.blessed and first.version.aliases == (CHALLENGER,)
    registry = ModelRegistry(project.tracking_uri)
    assert _champion(project) is None
    info = registry.get_version("credit", "1")
    assert info.tags["headway.approval"] == "pending"
    # the card was logged with the run
    files = {a.path for a in MlflowClient(project.tracking_uri).list_artifacts(first.run_id)}
    assert {"model_card.md", "model_card.html"} <= files

    no_reason = _cli(project, "approve", "credit/1")
    assert no_reason.returncode == 1 and "needs --reason" in no_reason.stderr
    assert registry.get_version("credit", "1").tags["headway.approval"] == "pending"
    out = _cli(project, "approve", "credit/1", "--by", "alice", "--reason", "card reviewed")
    assert out.returncode == 0, out.stderr
    info = registry.get_version("credit", "1")
    assert info.aliases == (CHAMPION,) and info.tags["headway.approval"] == "approved"
    assert json.loads(info.tags["headway.top_features"])[0] in info.tags["headway.feature_columns"]
    assert info.tags["headway.approval_by"] == "alice"
    ghost = _cli(project, "approve", "credit/7", "--reason", "typo")
    assert ghost.returncode == 1 and "no version 7 of model 'credit'" in ghost.stderr
    again = _cli(project, "approve", "credit/1", "--reason", "twice")
    assert again.returncode == 1 and "already approved" in again.stderr
    assert _actions(project, "1") == ["registered", "blessed", "approved", "promoted"]


def test_weaker_candidate_is_not_blessed_and_overrides_are_recorded(manual: Project) -> None:
    _set(manual.root, evaluation={"explain": False})  # not looked at here
    project = Project.load(manual.root)
    _approved_champion(project)
    registry = ModelRegistry(project.tracking_uri)
    _set(project.root, data={"exclude_columns": ["sex", "age_group", *STRONG_DRIVERS]})
    weaker = run_pipeline(Project.load(project.root))
    assert weaker.version.version == "2"
    assert not weaker.blessing.blessed and weaker.version.aliases == ()
    assert any("champion v1" in r for r in weaker.blessing.reasons)
    assert _champion(project) == "1"
    assert _actions(project, "2") == ["registered", "not_blessed"]
    checks = json.loads(registry.get_version("credit", "2").tags["headway.gate_checks"])
    # It still clears the absolute bound (see the fixture): the champion keeps it out.
    assert checks["champion"] is False and checks["min:roc_auc"] is True

    refused = _cli(project, "promote", "credit/2")
    assert refused.returncode == 1 and "--force" in refused.stderr
    assert _champion(project) == "1"
    forced = _cli(project, "promote", "credit/2", "--force", "--reason", "incident drill")
    assert forced.returncode == 0, forced.stderr
    assert _champion(project) == "2"
    assert _actions(project, "2")[-2:] == ["forced", "promoted"]

    back = _cli(project, "rollback", "credit", "--reason", "drill over")
    assert back.returncode == 0 and "v2 -> v1" in back.stdout
    assert _champion(project) == "1"
    none_left = _cli(project, "rollback", "credit", "--reason", "again")
    assert none_left.returncode == 1 and "no previous champion" in none_left.stderr

    assert _cli(project, "reject", "credit/2", "--reason", "weaker").returncode == 0
    late = _cli(project, "approve", "credit/2", "--reason", "changed my mind")
    assert late.returncode == 1 and "rejected" in late.stderr
    champion_archive = _cli(project, "archive", "credit/1", "--reason", "old")
    assert champion_archive.returncode == 1 and "is the champion" in champion_archive.stderr
    assert _cli(project, "archive", "credit/2", "--reason", "retired").returncode == 0
    assert registry.get_version("credit", "2").tags["headway.archived"] == "true"
    assert _champion(project) == "1"

    audit = json.loads(_cli(project, "audit", "--json", "--version", "2").stdout)
    actions = [e["action"] for e in audit]
    assert actions == [
        "registered", "not_blessed", "forced", "promoted", "rejected", "archived",
    ]  # fmt: skip
    assert audit[2]["reason"] == "incident drill"
    rolled = json.loads(_cli(project, "audit", "--json", "--action", "rolled_back").stdout)
    assert [e["details"] for e in rolled] == [{"from": "2", "to": "1"}]


def test_gate_on_demand_and_model_card(manual: Project) -> None:
    project = manual
    _approved_champion(project)
    out = _cli(project, "gate", "--candidate", "credit/1", "--json")
    doc = json.loads(out.stdout)
    # The champion re-gated on the data it was trained on: judged on its bounds alone, and
    # its test AUC (about 0.76) clears the bound of 0.6.
    assert doc["blessing"]["blessed"] is True and out.returncode == 0, out.stderr
    assert doc["evaluation"]["metric"] == "roc_auc"
    assert any(c["name"] == "champion" for c in doc["blessing"]["checks"])
    assert _actions(project, "1")[-1] == "blessed"
    assert _champion(project) == "1"  # a gate on demand moves no alias

    card = _cli(project, "card", "credit/1")
    assert card.returncode == 0, card.stderr
    text = card.stdout
    assert text.startswith("# Model card: credit v1")
    for heading in ("## Intended use", "## Fairness", "## Gates", "## Approvals and decisions",
                    "## Limitations", "## Lineage"):  # fmt: skip
        assert heading in text
    assert "alice" in text and "card reviewed" in text
    page = project.root / "card.html"
    assert _cli(project, "card", "credit/1", "--html", str(page)).returncode == 0
    assert page.read_text().lower().startswith("<!doctype html>") and "<svg" in page.read_text()
    missing = _cli(project, "card", "credit/9")
    assert missing.returncode == 1 and "no version 9" in missing.stderr
