"""Who may receive traffic beside the champion: ``Governor.set_traffic`` on a real MLflow
registry. Live traffic (canary, A/B) only for blessed versions, and under ``manual`` approved
ones; shadow for any registered version; never the champion itself; every change audited,
and nothing written when a rule refuses it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway import Project, run_pipeline
from headway.controlplane import AuditLog, DeploymentStore, default_actor, default_url
from headway.controlplane.deployments import default_deployment
from headway.exceptions import GovernanceError, ModelNotFoundError
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry
from headway.registry.governance import Governor
from tests.helpers import make_project

FAST = {
    "budget": {"trials": 2, "timeout_seconds": 60},
    "model_families": ["lightgbm"],
    "n_workers": 1,
}


def _project(root: Path, *, promotion: str) -> Project:
    make_project(
        root,
        rows=1000,
        training=FAST,
        governance={"promotion": promotion},
        evaluation={"explain": False},
    )
    return Project.load(root)


@pytest.fixture(scope="module")
def auto_project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """``promotion: auto``: v1 the champion; v2 the same model again, which does not beat the
    champion and so is registered but not blessed. Tests only read this registry."""
    project = _project(tmp_path_factory.mktemp("auto") / "churn", promotion="auto")
    first = run_pipeline(project)
    assert first.blessing.blessed and first.version.aliases == (CHAMPION,)
    second = run_pipeline(project)
    assert second.version.version == "2"
    assert not second.blessing.blessed and second.version.aliases == ()
    return project


class Stores:
    """A governor on the project's registry, with its own empty control-plane database."""

    def __init__(self, project: Project, url: str) -> None:
        self.audit = AuditLog(url)
        self.store = DeploymentStore(url)
        self.registry = ModelRegistry(project.tracking_uri)
        self.governor = Governor(
            self.registry, self.audit, "churn", promotion=project.config.governance.promotion
        )

    def set(self, candidate: str | None, mode: str, weight: float = 0.0, **kw: Any) -> Any:
        kw.setdefault("actor", "ana")
        kw.setdefault("reason", "")
        return self.governor.set_traffic(
            self.store, candidate=candidate, mode=mode, weight=weight, **kw
        )

    def traffic_events(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.audit.events(model="churn", action="traffic")]

    def close(self) -> None:
        self.store.close()
        self.audit.close()


@pytest.fixture
def auto(auto_project: Project, tmp_path: Path) -> Iterator[Stores]:
    stores = Stores(auto_project, default_url(tmp_path / "control"))
    yield stores
    stores.close()


def test_live_traffic_to_an_unblessed_version_is_refused(auto: Stores) -> None:
    with pytest.raises(GovernanceError, match="churn/2 is not blessed") as canary:
        auto.set("2", "canary", 0.1)
    message = str(canary.value)
    assert "canary traffic goes only to blessed versions" in message
    assert "--mode shadow" in message
    with pytest.raises(GovernanceError, match=r"churn/2 is not blessed.*ab traffic"):
        auto.set("2", "ab", 0.5, entity_column="customer_id")

    assert auto.store.get("churn") == default_deployment("churn")
    assert auto.traffic_events() == []


def test_shadow_of_an_unblessed_version_is_allowed_and_audited(auto: Stores) -> None:
    record = auto.set("2", "shadow", actor="bob", reason="see how v2 does on live rows")

    assert (record.candidate, record.mode, record.weight, record.revision) == ("2", "shadow", 0, 1)
    assert record.actor == "bob" and record.reason == "see how v2 does on live rows"
    assert auto.store.get("churn") == record
    (event,) = auto.traffic_events()
    assert (event["version"], event["actor"], event["os_actor"]) == ("2", "bob", default_actor())
    assert event["reason"] == "see how v2 does on live rows"
    assert event["details"] == {
        "mode": "shadow",
        "weight": 0.0,
        "entity_column": None,
        "previous_mode": "single",
        "previous_candidate": None,
        "previous_weight": 0.0,
        "revision": 1,
        "champion": "1",
    }

    cleared = auto.set(None, "single", actor="bob", reason="done")
    assert (cleared.candidate, cleared.mode, cleared.revision) == (None, "single", 2)
    last = auto.traffic_events()[-1]
    assert last["version"] is None
    assert last["details"]["previous_mode"] == "shadow"
    assert last["details"]["previous_candidate"] == "2"
    assert last["details"]["revision"] == 2


def test_unknown_version_and_the_champion_are_refused(auto: Stores) -> None:
    with pytest.raises(ModelNotFoundError, match="no version 99 of model 'churn'"):
        auto.set("99", "shadow")
    with pytest.raises(GovernanceError, match="churn/1 is the champion"):
        auto.set("1", "shadow")
    with pytest.raises(GovernanceError, match="churn/1 is the champion"):
        auto.set("1", "canary", 0.5)
    with pytest.raises(ValueError, match=r"^weight must be 0 in mode 'shadow'"):
        auto.set("2", "shadow", 0.3)

    assert auto.store.get("churn") == default_deployment("churn")
    assert auto.traffic_events() == []


def test_a_blessed_version_takes_canary_and_ab_traffic_under_auto(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn", promotion="auto")
    run_pipeline(project)  # v1: blessed, champion
    run_pipeline(project)  # v2: not blessed
    stores = Stores(project, project.control_db_url)
    try:
        stores.governor.promote("2", actor="ana", reason="hotfix", force=True)
        assert stores.registry.get_version("churn", "1").blessed  # now the previous champion

        canary = stores.set("1", "canary", 0.1, reason="back to v1, slowly")
        ab = stores.set("1", "ab", 0.5, entity_column="customer_id")

        assert (canary.mode, canary.weight, canary.revision) == ("canary", 0.1, 1)
        assert (ab.mode, ab.weight, ab.entity_column, ab.revision) == (
            "ab",
            0.5,
            "customer_id",
            2,
        )
        events = stores.traffic_events()
        assert [e["details"]["mode"] for e in events] == ["canary", "ab"]
        assert events[1]["details"]["previous_mode"] == "canary"
        assert events[1]["details"]["previous_weight"] == 0.1
        assert events[1]["details"]["entity_column"] == "customer_id"
        assert events[1]["details"]["champion"] == "2"
    finally:
        stores.close()


def test_manual_promotion_sends_live_traffic_only_to_approved_versions(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn", promotion="manual")
    first = run_pipeline(project)
    second = run_pipeline(project)  # no champion yet to compare with: blessed too
    assert first.blessing.blessed and second.blessing.blessed
    assert second.version.aliases == (CHALLENGER,)
    stores = Stores(project, project.control_db_url)
    try:
        stores.governor.approve("2", actor="alice", reason="card reviewed")  # v2 champion

        with pytest.raises(GovernanceError, match="churn/1 is not approved") as refused:
            stores.set("1", "canary", 0.2)
        message = str(refused.value)
        assert "promotion: manual, approval: pending" in message
        assert "headway approve churn/1" in message and "--mode shadow" in message
        assert stores.store.get("churn").revision == 0
        assert stores.traffic_events() == []

        shadow = stores.set("1", "shadow")
        assert (shadow.candidate, shadow.mode, shadow.revision) == ("1", "shadow", 1)

        # Approved (it became champion), then rolled back: approved, blessed, not champion.
        stores.governor.approve("1", actor="alice", reason="reviewed too")
        stores.governor.rollback(actor="alice", reason="v2 again")
        assert stores.registry.version_by_alias("churn", CHAMPION).version == "2"  # type: ignore[union-attr]
        canary = stores.set("1", "canary", 0.2, reason="approved, try it on 20%")
        assert (canary.candidate, canary.mode, canary.weight, canary.revision) == (
            "1",
            "canary",
            0.2,
            2,
        )
        details = stores.traffic_events()[-1]["details"]
        assert details["previous_mode"] == "shadow" and details["previous_candidate"] == "1"
    finally:
        stores.close()
