"""Governance end to end on the credit example: manual promotion, approvals, a weaker
candidate kept out, forced promotion, rollback, archive, gate on demand, model cards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from headway import Project, run_pipeline
from headway.controlplane import AuditLog
from headway.datasets import write_example
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry
from tests.helpers import run_cli


def _set(root: Path, **sections: dict) -> None:
    path = root / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    for key, value in sections.items():
        config.setdefault(key, {}).update(value)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def manual(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Project]:
    root = tmp_path_factory.mktemp("gov") / "credit"
    write_example("credit", root, n_rows=3000)
    _set(
        root,
        training={
            "budget": {"trials": 2, "timeout_seconds": 60},
            "model_families": ["linear"],
            "n_workers": 1,
        },
        governance={"promotion": "manual"},
    )
    return root, Project.load(root)


def _cli(root: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(*args, "--project", str(root))


def _actions(project: Project, version: str) -> list[str]:
    with AuditLog.for_project(project) as audit:
        return [e.action for e in audit.events(model="credit", version=version)]


def test_manual_promotion_waits_for_approval(manual: tuple[Path, Project]) -> None:
    root, project = manual
    first = run_pipeline(project)
    assert first.blessing.blessed and first.version.aliases == (CHALLENGER,)
    registry = ModelRegistry(project.tracking_uri)
    assert registry.version_by_alias("credit", CHAMPION) is None
    info = registry.get_version("credit", "1")
    assert info.tags["headway.approval"] == "pending"
    # the card was logged with the run
    files = {a.path for a in MlflowClient(project.tracking_uri).list_artifacts(first.run_id)}
    assert {"model_card.md", "model_card.html"} <= files

    no_reason = _cli(root, "approve", "credit/1")
    assert no_reason.returncode == 1 and "needs --reason" in no_reason.stderr
    out = _cli(root, "approve", "credit/1", "--by", "alice", "--reason", "card reviewed")
    assert out.returncode == 0, out.stderr
    info = registry.get_version("credit", "1")
    assert info.aliases == (CHAMPION,) and info.tags["headway.approval"] == "approved"
    assert json.loads(info.tags["headway.top_features"])[0] in info.tags["headway.feature_columns"]
    assert info.tags["headway.approval_by"] == "alice"
    ghost = _cli(root, "approve", "credit/7", "--reason", "typo")
    assert ghost.returncode == 1 and "no version 7 of model 'credit'" in ghost.stderr
    again = _cli(root, "approve", "credit/1", "--reason", "twice")
    assert again.returncode == 1 and "already approved" in again.stderr
    assert _actions(project, "1") == ["registered", "blessed", "approved", "promoted"]


def test_weaker_candidate_is_not_blessed_and_overrides_are_recorded(
    manual: tuple[Path, Project],
) -> None:
    root, project = manual
    registry = ModelRegistry(project.tracking_uri)
    if registry.version_by_alias("credit", CHAMPION) is None:
        pytest.skip("needs the approved champion of the previous test")
    # the strongest drivers of default removed: a deliberately weaker model
    _set(root, data={"exclude_columns": ["sex", "age_group", "debt_to_income",
                                         "late_payments_2y", "interest_rate"]})  # fmt: skip
    weaker = run_pipeline(Project.load(root))
    assert not weaker.blessing.blessed and weaker.version.aliases == ()
    assert any("champion v1" in r for r in weaker.blessing.reasons)
    assert registry.version_by_alias("credit", CHAMPION).version == "1"  # type: ignore[union-attr]
    assert _actions(project, "2") == ["registered", "not_blessed"]
    checks = json.loads(registry.get_version("credit", "2").tags["headway.gate_checks"])
    assert checks["champion"] is False and checks["min:roc_auc"] in (True, False)

    refused = _cli(root, "promote", "credit/2")
    assert refused.returncode == 1 and "--force" in refused.stderr
    forced = _cli(root, "promote", "credit/2", "--force", "--reason", "incident drill")
    assert forced.returncode == 0, forced.stderr
    assert registry.version_by_alias("credit", CHAMPION).version == "2"  # type: ignore[union-attr]
    assert _actions(project, "2")[-2:] == ["forced", "promoted"]

    back = _cli(root, "rollback", "credit", "--reason", "drill over")
    assert back.returncode == 0 and "v2 -> v1" in back.stdout
    assert registry.version_by_alias("credit", CHAMPION).version == "1"  # type: ignore[union-attr]
    none_left = _cli(root, "rollback", "credit", "--reason", "again")
    assert none_left.returncode == 1 and "no previous champion" in none_left.stderr

    assert _cli(root, "reject", "credit/2", "--reason", "weaker").returncode == 0
    late = _cli(root, "approve", "credit/2", "--reason", "changed my mind")
    assert late.returncode == 1 and "rejected" in late.stderr
    champion_archive = _cli(root, "archive", "credit/1", "--reason", "old")
    assert champion_archive.returncode == 1 and "is the champion" in champion_archive.stderr
    assert _cli(root, "archive", "credit/2", "--reason", "retired").returncode == 0
    assert registry.get_version("credit", "2").tags["headway.archived"] == "true"

    audit = json.loads(_cli(root, "audit", "--json", "--version", "2").stdout)
    actions = [e["action"] for e in audit]
    assert actions == [
        "registered", "not_blessed", "forced", "promoted", "rejected", "archived",
    ]  # fmt: skip
    assert audit[2]["reason"] == "incident drill"
    rolled = json.loads(_cli(root, "audit", "--json", "--action", "rolled_back").stdout)
    assert rolled[0]["details"] == {"from": "2", "to": "1"}


def test_gate_on_demand_and_model_card(manual: tuple[Path, Project]) -> None:
    root, project = manual
    if ModelRegistry(project.tracking_uri).version_by_alias("credit", CHAMPION) is None:
        pytest.skip("needs the approved champion of the first test")
    out = _cli(root, "gate", "--candidate", "credit/1", "--json")
    doc = json.loads(out.stdout)
    assert out.returncode == (0 if doc["blessing"]["blessed"] else 1)
    assert doc["evaluation"]["metric"] == "roc_auc"
    assert any(c["name"] == "champion" for c in doc["blessing"]["checks"])
    card = _cli(root, "card", "credit/1")
    assert card.returncode == 0, card.stderr
    text = card.stdout
    assert text.startswith("# Model card: credit v1")
    for heading in ("## Intended use", "## Fairness", "## Gates", "## Approvals and decisions",
                    "## Limitations", "## Lineage"):  # fmt: skip
        assert heading in text
    assert "alice" in text and "card reviewed" in text
    page = root / "card.html"
    assert _cli(root, "card", "credit/1", "--html", str(page)).returncode == 0
    assert page.read_text().lower().startswith("<!doctype html>") and "<svg" in page.read_text()
    missing = _cli(root, "card", "credit/9")
    assert missing.returncode == 1 and "no version 9" in missing.stderr
