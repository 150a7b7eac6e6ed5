"""The autopilot end to end on a real project: the real MLflow registry, control plane and
prediction log; log rows written as the server writes them (champion, shadow with the
champion's id plus ``-shadow``, canary), with labels.

Each test trains its own v1 on the churn example, logs concept-shifted traffic with labels,
and lets the controller pass: the volume trigger fires, the retrained v2 is blessed and
rolled out. What the labels say about v2 then decides: promoted after shadow and canary,
or rolled back in the shadow step.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from headway.automation.controller import Autopilot
from headway.controlplane import (
    AuditLog,
    DeploymentStore,
    LeaseStore,
    RolloutStore,
)
from headway.controlplane.delivery import read_delivery_metrics
from headway.datasets import make_stream
from headway.pipeline.run import run_pipeline
from headway.predictions import Feedback, PredictionRecord, new_ids, open_prediction_log
from headway.predictions.base import SHADOW_SUFFIX
from headway.project import Project
from headway.registry import CHALLENGER, CHAMPION, ModelRegistry, layout
from tests.helpers import make_tiny_project, run_cli

AUTOMATION = {
    "enabled": True,
    "cooldown": "1h",
    "triggers": {"volume": 600, "drift": False, "performance": False},
    "retrain": {"window": "30d", "min_new_rows": 100, "max_history_rows": 200},
    "rollout": {
        "steps": [
            {"mode": "shadow", "min_rows": 150},
            {"mode": "canary", "weight": 0.5, "min_rows": 150},
        ],
        "min_labels": 50,
        "min_effect": 0.05,
        "guardrails": {"min_rows": 50, "max_prediction_shift": 1.0, "max_latency_ratio": 100},
    },
}


def _project(root: Path, automation: dict[str, Any] = AUTOMATION) -> Project:
    make_tiny_project(root, rows=800)
    path = root / "headway.yaml"
    config = yaml.safe_load(path.read_text())
    config["automation"] = automation
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(root)


class _Traffic:
    """Writes log rows as the server does, with the versions' real predictions."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.registry = ModelRegistry(project.tracking_uri, project.registry_uri)
        self._models: dict[str, object] = {}
        self._offset = 0

    def _model(self, version: str) -> Any:
        if version not in self._models:
            self._models[version] = self.registry.load_estimator(f"models:/churn/{version}")
        return self._models[version]

    def _predict(self, version: str, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self._model(version).predict(frame))

    def _scored(self, version: str, frame: pd.DataFrame) -> list[tuple[int, float]]:
        """(prediction, probability of churn) per row, as the server logs them."""
        model = self._model(version)
        probability = np.asarray(model.predict_proba(frame))[:, 1]
        return list(zip(self._predict(version, frame).tolist(), probability.tolist(), strict=True))

    def rows(self, n: int) -> pd.DataFrame:
        stream = make_stream("churn", n, drift="concept", at=0, strength=3.0, seed=7 + self._offset)
        self._offset += 1
        return stream

    def log(
        self,
        rows: pd.DataFrame,
        *,
        answered_by: list[tuple[str, str]],
        shadow: str | None = None,
        labels: pd.Series | np.ndarray | None = None,
    ) -> None:
        """Log ``rows``: row i answered by ``answered_by[i]`` (version, route); with
        ``shadow``, that version also scores every row under the twin id; labels for every
        answered row (the true target by default)."""
        inputs = rows.drop(columns=["churned"])
        ids = new_ids(len(rows))
        now = datetime.now(UTC)
        records: list[PredictionRecord] = []
        by_version: dict[str, list[int]] = {}
        for i, (version, _) in enumerate(answered_by):
            by_version.setdefault(version, []).append(i)
        predictions: dict[int, tuple[int, float]] = {}
        for version, positions in by_version.items():
            for position, value in zip(
                positions, self._scored(version, inputs.iloc[positions]), strict=True
            ):
                predictions[position] = value
        cells = inputs.to_dict(orient="records")
        for i, (version, route) in enumerate(answered_by):
            records.append(_record(ids[i], now, version, route, cells[i], predictions[i]))
        if shadow is not None:
            scored = self._scored(shadow, inputs)
            records += [
                _record(ids[i] + SHADOW_SUFFIX, now, shadow, "shadow", cells[i], scored[i])
                for i in range(len(rows))
            ]
        truth = rows["churned"].to_numpy() if labels is None else np.asarray(labels)
        with open_prediction_log(self.project.predictions_url, self.project.predictions_dir) as log:
            log.append(records)
            log.add_feedback([Feedback(ids[i], label=int(truth[i])) for i in range(len(rows))])


def _record(
    pid: str,
    at: datetime,
    version: str,
    route: str,
    cells: dict[str, object],
    value: tuple[int, float],
) -> PredictionRecord:
    clean = {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in cells.items()}
    clean = json.loads(json.dumps(clean, default=str))
    return PredictionRecord(
        prediction_id=pid,
        timestamp=at,
        model_name="churn",
        model_version=version,
        route=route,
        inputs=clean,
        outputs={"prediction": int(value[0]), "probability": round(float(value[1]), 6)},
        latency_ms=2.0,
    )


def _actions(project: Project) -> list[str]:
    with AuditLog.for_project(project) as audit:
        return [e.action for e in audit.events(model="churn")]


def _retrained(project: Project, traffic: _Traffic) -> Autopilot:
    """v1 champion, concept-shifted labelled traffic, one pass: v2 retrained and blessed,
    its rollout started in shadow."""
    assert run_pipeline(project).version.aliases == (CHAMPION,)
    rows = traffic.rows(800)
    traffic.log(rows, answered_by=[("1", "champion")] * len(rows))
    pilot = Autopilot(project, holder="test-pilot")
    first = pilot.run_once()
    assert first.lease == "held"
    events = [e["event"] for e in first.events]
    assert events == [
        "trigger_fired",
        "retrain_started",
        "retrain_finished",
        "rollout_started",
    ], first.as_dict()
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    v2 = registry.version_by_alias("churn", CHALLENGER)
    assert v2 is not None and v2.version == "2" and v2.blessed
    assert v2.tags[layout.RETRAIN_TRIGGER.name] == "volume"
    assert v2.tags[layout.LOG_ROWS.name] == "800"
    assert registry.version_by_alias("churn", CHAMPION).version == "1"  # type: ignore[union-attr]
    with DeploymentStore.for_project(project) as deployments:
        record = deployments.get("churn")
    assert (record.mode, record.candidate) == ("shadow", "2")
    return pilot


def test_retrained_version_is_shadowed_canaried_and_promoted(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn")
    traffic = _Traffic(project)
    pilot = _retrained(project, traffic)

    # Shadow: v1 answers, v2 scores the same rows; labels follow the new concept.
    rows = traffic.rows(300)
    traffic.log(rows, answered_by=[("1", "champion")] * len(rows), shadow="2")
    second = pilot.run_once()
    assert [e["event"] for e in second.events] == ["rollout_advanced"], second.as_dict()
    with RolloutStore.for_project(project) as rollouts:
        rollout = rollouts.active("churn")
    assert rollout is not None and rollout.step == 1
    test = rollout.state["evidence"]["test"]
    # The Brier score (lower is better) of v2 is below v1's on the shifted traffic.
    assert test["n_treatment"] == 300 and test["difference"] < 0
    with DeploymentStore.for_project(project) as deployments:
        record = deployments.get("churn")
    assert (record.mode, record.candidate, record.weight) == ("canary", "2", 0.5)

    # Canary: half the rows answered by each version.
    rows = traffic.rows(1000)
    split = [("1", "champion"), ("2", "canary")] * (len(rows) // 2)
    traffic.log(rows, answered_by=split)
    third = pilot.run_once()
    assert [e["event"] for e in third.events][-1] == "rollout_promoted", third.events

    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    champion = registry.version_by_alias("churn", CHAMPION)
    assert champion is not None and champion.version == "2"
    assert champion.tags[layout.ROLLOUT.name] == "promoted"
    with DeploymentStore.for_project(project) as deployments:
        assert deployments.get("churn").mode == "single"
    with RolloutStore.for_project(project) as rollouts:
        ended = rollouts.history("churn", limit=1)[0]
    assert ended.status == "promoted" and ended.ended_at is not None
    assert ended.state["evidence"]["verdict"] == "better"
    assert ended.state["evidence"]["test"]["p_value"] < 0.05

    actions = _actions(project)
    for action in ("trigger_fired", "retrain_started", "rollout_started", "rollout_advanced"):
        assert action in actions
    assert actions[-2:] == ["traffic", "rollout_promoted"] or actions[-1] == "rollout_promoted"
    with AuditLog.for_project(project) as audit:
        metrics = read_delivery_metrics(audit, model="churn")
    assert metrics.deployments == 2
    assert metrics.rollouts_promoted == 1
    assert metrics.retrains_by_trigger == {"volume": 1}
    assert metrics.change_failure_rate == 0.0

    # Cooling down: no trigger fires right after a retraining, whatever the volume.
    later = pilot.run_once()
    assert later.events == [] and "cooling down" in later.note


def test_a_worse_candidate_is_rolled_back_in_shadow(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn")
    traffic = _Traffic(project)
    pilot = _retrained(project, traffic)

    # Labels that agree with the champion: the candidate is worse on live traffic.
    rows = traffic.rows(300)
    champion_says = traffic._predict("1", rows.drop(columns=["churned"]))
    traffic.log(rows, answered_by=[("1", "champion")] * len(rows), shadow="2", labels=champion_says)
    second = pilot.run_once()
    assert [e["event"] for e in second.events] == ["rollout_rolled_back"], second.as_dict()
    assert "worse" in second.events[0]["detail"]

    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    assert registry.version_by_alias("churn", CHAMPION).version == "1"  # type: ignore[union-attr]
    assert registry.version_by_alias("churn", CHALLENGER) is None
    assert registry.get_version("churn", "2").tags[layout.ROLLOUT.name] == "rolled_back"
    with DeploymentStore.for_project(project) as deployments:
        assert deployments.get("churn").mode == "single"
    with AuditLog.for_project(project) as audit:
        rolled = audit.events(model="churn", action="rollout_rolled_back")
        metrics = read_delivery_metrics(audit, model="churn")
    assert rolled[-1].details["verdict"] == "worse"
    assert rolled[-1].details["test"]["ci_low"] > 0  # a higher Brier score: worse
    assert metrics.change_failure_rate == pytest.approx(1 / 2)

    # The rolled-back version is not rolled out again.
    again = pilot.run_once()
    assert "rollout_started" not in [e["event"] for e in again.events]


def test_a_second_controller_waits_for_the_lease(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn")
    assert run_pipeline(project).version.aliases == (CHAMPION,)
    first = Autopilot(project, holder="pod-a")
    second = Autopilot(project, holder="pod-b")
    assert first.run_once().lease == "held"
    waiting = second.run_once()
    assert waiting.lease == "waiting" and "pod-a" in waiting.note
    assert waiting.events == []
    first.release()
    assert second.run_once().lease == "held"
    with LeaseStore.for_project(project) as leases:
        lease = leases.get("autopilot:churn")
    assert lease is not None and lease.holder == "pod-b"
    assert lease.expires_at > datetime.now(UTC) + timedelta(seconds=60)


def test_a_restarted_controller_continues_or_expires_the_rollout(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn")
    traffic = _Traffic(project)
    killed = _retrained(project, traffic)  # never releases its lease: as if killed

    # Another controller, while the dead one's lease still runs: it waits.
    other = Autopilot(project, holder="pod-b")
    assert other.run_once().lease == "waiting"

    # After the lease expired it takes over and continues from the recorded step.
    later = datetime.now(UTC) + timedelta(minutes=3)
    successor = Autopilot(project, holder="pod-b", clock=lambda: later)
    rows = traffic.rows(300)
    traffic.log(rows, answered_by=[("1", "champion")] * len(rows), shadow="2")
    resumed = successor.run_once()
    assert resumed.lease == "held"
    assert [e["event"] for e in resumed.events] == ["rollout_advanced"], resumed.events
    assert killed.holder != successor.holder

    # Restarted after the rollout's max_duration: its evidence has gone stale, it ends.
    much_later = datetime.now(UTC) + timedelta(days=8)
    restarted = Autopilot(project, holder="pod-c", clock=lambda: much_later)
    ended = restarted.run_once()
    assert [e["event"] for e in ended.events] == ["rollout_expired"], ended.events
    assert "rollout.max_duration" in ended.events[0]["detail"]
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    assert registry.version_by_alias("churn", CHAMPION).version == "1"  # type: ignore[union-attr]
    with DeploymentStore.for_project(project) as deployments:
        assert deployments.get("churn").mode == "single"


def test_a_person_aborts_the_rollout(tmp_path: Path) -> None:
    project = _project(tmp_path / "churn")
    _retrained(project, _Traffic(project))
    out = run_cli(
        "rollout", "abort", "--project", str(project.root), "--by", "ana", "--reason", "not today"
    )
    assert out.returncode == 0, out.stderr
    assert "aborted" in out.stdout
    with RolloutStore.for_project(project) as rollouts:
        ended = rollouts.history("churn", limit=1)[0]
    assert (ended.status, ended.reason) == ("aborted", "not today")
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    assert registry.version_by_alias("churn", CHALLENGER) is None
    assert registry.get_version("churn", "2").tags[layout.ROLLOUT.name] == "aborted"
    with DeploymentStore.for_project(project) as deployments:
        assert deployments.get("churn").mode == "single"
    with AuditLog.for_project(project) as audit:
        aborted = audit.events(model="churn", action="rollout_aborted")
    assert [(e.actor, e.version, e.reason) for e in aborted] == [("ana", "2", "not today")]
    again = run_cli("rollout", "abort", "--project", str(project.root), "--reason", "twice")
    assert again.returncode == 1 and "no active rollout to abort" in again.stderr


def test_an_ab_rollout_holds_for_its_duration_then_reports_lift_and_promotes(
    tmp_path: Path,
) -> None:
    rollout = {
        **AUTOMATION["rollout"],
        "strategy": "ab",
        "ab_weight": 0.5,
        "ab_entity_column": "customer_id",
        "ab_duration": "7d",
    }
    project = _project(tmp_path / "churn", {**AUTOMATION, "rollout": rollout})
    traffic = _Traffic(project)
    clock: list[datetime] = []  # empty: the real time
    pilot = Autopilot(
        project, holder="test-pilot", clock=lambda: clock[0] if clock else datetime.now(UTC)
    )
    assert run_pipeline(project).version.aliases == (CHAMPION,)
    rows = traffic.rows(800)
    traffic.log(rows, answered_by=[("1", "champion")] * len(rows))
    first = pilot.run_once()
    assert [e["event"] for e in first.events][-1] == "rollout_started", first.as_dict()
    with DeploymentStore.for_project(project) as deployments:
        record = deployments.get("churn")
    assert (record.mode, record.candidate, record.weight, record.entity_column) == (
        "ab",
        "2",
        0.5,
        "customer_id",
    )

    # A sticky split of shifted traffic, as the server routes it: the retrained v2 is
    # better, but the A/B test runs its whole period.
    rows = traffic.rows(1200)
    split = [("2", "canary") if i % 2 else ("1", "champion") for i in range(len(rows))]
    traffic.log(rows, answered_by=split)
    second = pilot.run_once()
    assert [e["event"] for e in second.events] == ["rollout_held"], second.as_dict()
    assert "ab runs for 7d" in second.events[0]["detail"]
    with RolloutStore.for_project(project) as rollouts:
        running = rollouts.active("churn")
    assert running is not None and running.strategy == "ab"
    report = running.state["evidence"]["ab"]
    assert (report["n_control"], report["n_treatment"]) == (600, 600)
    assert report["difference"] < 0 and report["relative_lift"] < 0  # a lower Brier score
    assert report["fixed_ci_low"] < report["difference"] < report["fixed_ci_high"]
    assert report["sequential_ci_low"] <= report["fixed_ci_low"]  # always-valid: wider
    assert report["decision"] == "better"

    # Eight days later the period is over: the verdict decides.
    clock.append(datetime.now(UTC) + timedelta(days=8))
    third = pilot.run_once()
    assert [e["event"] for e in third.events][-1] == "rollout_promoted", third.as_dict()
    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    assert registry.version_by_alias("churn", CHAMPION).version == "2"  # type: ignore[union-attr]
    with RolloutStore.for_project(project) as rollouts:
        ended = rollouts.history("churn", limit=1)[0]
    assert ended.status == "promoted"
    assert ended.state["evidence"]["ab"]["sequential_p_value"] < 0.05
    with DeploymentStore.for_project(project) as deployments:
        assert deployments.get("churn").mode == "single"
