"""Governance decisions that must not be wrong: a pending version is not promoted without an
approval or an override, an approval of a version gated against an older champion re-gates
it first, a champion that cannot be compared sends the candidate to a person, and the audit
log keeps the OS user beside the claimed actor. Each test builds its own project."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from headway import Project, run_pipeline
from headway.controlplane import AuditLog, default_actor
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry
from tests.helpers import make_project, run_cli

FAST = {
    "budget": {"trials": 2, "timeout_seconds": 60},
    "model_families": ["linear"],
    "n_workers": 1,
}


def _project(root: Path, *, promotion: str) -> Project:
    make_project(
        root,
        rows=1500,
        training=FAST,
        governance={"promotion": promotion},
        evaluation={"explain": False},
    )
    return Project.load(root)


def _cli(project: Project, *args: str):  # type: ignore[no-untyped-def]
    return run_cli(*args, "--project", str(project.root))


def _events(project: Project, version: str | None = None) -> list[dict[str, object]]:
    with AuditLog.for_project(project) as audit:
        return [e.as_dict() for e in audit.events(model="churn", version=version)]


def test_a_pending_version_needs_an_approval_or_a_forced_override(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn", promotion="manual")
    first = run_pipeline(project)
    assert first.blessing.blessed and first.version.aliases == (CHALLENGER,)
    registry = ModelRegistry(project.tracking_uri)

    plain = _cli(project, "promote", "churn/1")
    assert plain.returncode == 1
    assert "waits for approval" in plain.stderr and "--force --reason" in plain.stderr
    assert registry.version_by_alias("churn", CHAMPION) is None

    no_reason = _cli(project, "promote", "churn/1", "--force")
    assert no_reason.returncode == 1 and "--force needs --reason" in no_reason.stderr
    assert registry.version_by_alias("churn", CHAMPION) is None

    forced = _cli(project, "promote", "churn/1", "--force", "--reason", "hotfix", "--by", "bob")
    assert forced.returncode == 0, forced.stderr
    champion = registry.version_by_alias("churn", CHAMPION)
    assert champion is not None and champion.version == "1"
    (override,) = [e for e in _events(project, "1") if e["action"] == "forced"]
    assert override["actor"] == "bob" and override["os_actor"] == default_actor()
    assert override["reason"] == "hotfix"
    assert override["details"] == {"blessed": True, "approval": "pending"}


def test_approving_after_the_champion_changed_regates_against_it(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn", promotion="manual")
    run_pipeline(project)  # v1: pending, gated against no champion
    second = run_pipeline(project)  # v2: the same model, still no champion to compare with
    assert second.blessing.blessed and second.version.aliases == (CHALLENGER,)
    approved = _cli(project, "approve", "churn/2", "--by", "alice", "--reason", "reviewed")
    assert approved.returncode == 0, approved.stderr

    # v1 was gated against no champion; today's champion is v2, which it does not beat.
    stale = _cli(project, "approve", "churn/1", "--by", "alice", "--reason", "looks fine")
    assert stale.returncode == 1
    assert "today's champion is v2" in stale.stderr and "not blessed" in stale.stderr
    registry = ModelRegistry(project.tracking_uri)
    champion = registry.version_by_alias("churn", CHAMPION)
    assert champion is not None and champion.version == "2"
    assert registry.get_version("churn", "1").tags["headway.approval"] == "pending"
    regated = _events(project, "1")[-1]
    assert regated["action"] == "not_blessed" and regated["details"]["on_demand"] is True
    assert regated["actor"] == "alice"

    # The version gated against today's champion is approved without a new gate.
    approvals = [e for e in _events(project, "2") if e["action"] == "approved"]
    assert [(e["actor"], e["os_actor"]) for e in approvals] == [("alice", default_actor())]


def test_a_champion_that_cannot_score_sends_the_candidate_to_a_person(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn", promotion="auto")
    first = run_pipeline(project)
    assert first.version.aliases == (CHAMPION,)

    # The next table lacks a column the champion needs: it cannot score the new holdout.
    data = project.data_path
    assert data is not None
    pd.read_csv(data).drop(columns=["support_tickets_90d"]).to_csv(data, index=False)
    project.schema_path.unlink()  # inferred again for the new columns
    second = run_pipeline(Project.load(project.root))

    assert second.blessing.blessed
    assert second.blessing.review is not None and "cannot score" in second.blessing.review
    assert second.version.aliases == (CHALLENGER,)
    registry = ModelRegistry(project.tracking_uri)
    champion = registry.version_by_alias("churn", CHAMPION)
    assert champion is not None and champion.version == "1"
    assert registry.get_version("churn", "2").tags["headway.approval"] == "pending"
    (decision,) = [e for e in _events(project, "2") if e["action"] == "blessed"]
    assert "cannot score" in str(decision["details"]["review"])
    assert not [e for e in _events(project, "2") if e["action"] == "promoted"]
    status = json.loads(_cli(project, "status", "--json").stdout)
    assert status["models"][0]["aliases"] == {"champion": "1", "challenger": "2"}
