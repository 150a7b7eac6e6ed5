"""``headway rollout status|pause|resume`` and ``headway autopilot`` through the Typer app,
on an example project that was never trained: the rollout is written straight into its
control plane, so no registry is needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from headway.cli.autopilot import autopilot, rollout_app
from headway.controlplane import AuditLog, Rollout, RolloutStore, default_url
from headway.datasets import write_example
from headway.exceptions import ConfigError, HeadwayError

STEPS = [
    {"mode": "shadow", "weight": 0.0, "entity_column": None, "min_rows": 200},
    {"mode": "canary", "weight": 0.25, "entity_column": None, "min_rows": 100},
]


@pytest.fixture(autouse=True)
def _embedded_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store of the project in its own directory, whatever the environment says."""
    for name in ("HEADWAY_CONTROL_DB_URL", "HEADWAY_TRACKING_URI", "HEADWAY_REGISTRY_URI"):
        monkeypatch.delenv(name, raising=False)


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(rollout_app, name="rollout")
    app.command("autopilot")(autopilot)
    return app


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(_app(), list(args))


def _project(root: Path, *, enabled: bool = True) -> Path:
    path = write_example("churn", root, n_rows=200)
    config = yaml.safe_load(path.read_text())
    config["automation"] = {"enabled": enabled}
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    (root / ".headway").mkdir(parents=True, exist_ok=True)
    return root


def _url(root: Path) -> str:
    return default_url(root / ".headway")


def _start(root: Path, *, candidate: str = "2", champion: str = "1") -> Rollout:
    with RolloutStore(_url(root)) as store:
        return store.start(
            "churn",
            candidate=candidate,
            champion=champion,
            strategy="progressive",
            state={"steps": STEPS, "p_value": 1.0},
            reason="blessed after a volume trigger",
        )


def _stored(root: Path) -> Rollout:
    with RolloutStore(_url(root)) as store:
        found = store.history("churn", limit=1)
    assert len(found) == 1
    return found[0]


def _status(root: Path) -> dict[str, Any]:
    result = _invoke("rollout", "status", "--project", str(root), "--json")
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.output)
    return doc


def _events(root: Path, action: str) -> list[Any]:
    with AuditLog(_url(root)) as log:
        return log.events(model="churn", action=action)


# -- status ------------------------------------------------------------------------------


def test_status_without_a_rollout(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    assert _status(root) == {"model": "churn", "rollout": None}


def test_status_without_a_rollout_in_text(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    result = _invoke("rollout", "status", "--project", str(root))
    assert result.exit_code == 0, result.output
    assert "churn: no rollout yet" in result.output


def test_status_for_another_model(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    _start(root)
    result = _invoke("rollout", "status", "--project", str(root), "--model", "fraud", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"model": "fraud", "rollout": None}


def test_status_of_a_running_rollout(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    doc = _status(root)
    assert doc["model"] == "churn"
    rollout = doc["rollout"]
    assert rollout["id"] == started.id
    assert rollout["candidate"] == "2"
    assert rollout["champion"] == "1"
    assert rollout["status"] == "running"
    assert rollout["step"] == 0
    assert rollout["strategy"] == "progressive"
    assert rollout["steps_total"] == 2
    assert rollout["current_step"] == STEPS[0]
    assert rollout["reason"] == "blessed after a volume trigger"
    assert rollout["test"] is None and rollout["verdict"] is None


def test_status_shows_the_current_step_and_its_evidence(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    evidence = {
        "test": {
            "started": True,
            "difference": 0.05,
            "ci_low": 0.01,
            "ci_high": 0.09,
            "p_value": 0.004,
        },
        "verdict": "better",
        "guardrails": {"latency_ratio": 1.2, "error_rate": None, "prediction_shift": 0.05},
    }
    with RolloutStore(_url(root)) as store:
        store.update(started, step=1, state={"steps": STEPS, "evidence": evidence})
    doc = _status(root)["rollout"]
    assert doc["step"] == 1
    assert doc["current_step"] == STEPS[1]
    assert doc["verdict"] == "better"
    assert doc["test"]["p_value"] == 0.004
    assert doc["guardrails"]["latency_ratio"] == 1.2

    text = _invoke("rollout", "status", "--project", str(root))
    assert text.exit_code == 0, text.output
    assert "v2 (champion v1)" in text.output
    assert "2 of 2: canary 25%" in text.output
    assert "+0.0500" in text.output


def test_status_shows_the_last_rollout_once_it_ended(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    with RolloutStore(_url(root)) as store:
        store.update(started, status="rolled_back", reason="worse")
    rollout = _status(root)["rollout"]
    assert rollout["status"] == "rolled_back"
    assert rollout["ended_at"] is not None


# -- pause and resume --------------------------------------------------------------------


def test_pause_pauses_and_records_it(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    result = _invoke(
        "rollout", "pause", "--project", str(root), "--by", "alice", "--reason", "holiday"
    )
    assert result.exit_code == 0, result.output
    assert f"rollout #{started.id} of churn: paused" in result.output
    stored = _stored(root)
    assert stored.status == "paused"
    assert stored.revision == started.revision + 1
    assert stored.reason == "paused by alice: holiday"
    assert _status(root)["rollout"]["status"] == "paused"
    events = _events(root, "rollout_paused")
    assert len(events) == 1
    event = events[0]
    assert event.version == "2"
    assert event.actor == "alice"
    assert event.reason == "holiday"
    assert event.details == {"rollout_id": started.id, "step": 1}


def test_pause_twice_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    assert _invoke("rollout", "pause", "--project", str(root)).exit_code == 0
    again = _invoke("rollout", "pause", "--project", str(root))
    assert again.exit_code != 0
    assert isinstance(again.exception, HeadwayError)
    assert str(again.exception) == f"rollout #{started.id} of churn is already paused"
    assert _stored(root).revision == started.revision + 1
    assert len(_events(root, "rollout_paused")) == 1


def test_pause_without_an_active_rollout_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    result = _invoke("rollout", "pause", "--project", str(root))
    assert result.exit_code != 0
    assert isinstance(result.exception, HeadwayError)
    assert str(result.exception) == "churn has no active rollout to pause"


def test_resume_a_running_rollout_is_refused(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    result = _invoke("rollout", "resume", "--project", str(root))
    assert result.exit_code != 0
    assert isinstance(result.exception, HeadwayError)
    assert str(result.exception) == f"rollout #{started.id} of churn is not paused"
    assert _stored(root).status == "running"
    assert _stored(root).revision == started.revision


def test_resume_a_paused_rollout(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    started = _start(root)
    assert _invoke("rollout", "pause", "--project", str(root)).exit_code == 0
    result = _invoke("rollout", "resume", "--project", str(root), "--reason", "back")
    assert result.exception is None, repr(result.exception)
    assert result.exit_code == 0, result.output
    assert f"rollout #{started.id} of churn: running" in result.output
    assert _events(root, "rollout_resumed")[0].reason == "back"


def test_resume_sets_a_paused_rollout_running(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn")
    _start(root)
    assert _invoke("rollout", "pause", "--project", str(root)).exit_code == 0
    _invoke("rollout", "resume", "--project", str(root))
    assert _stored(root).status == "running"
    assert _status(root)["rollout"]["status"] == "running"


# -- autopilot ---------------------------------------------------------------------------


def test_autopilot_refuses_a_project_without_automation(tmp_path: Path) -> None:
    root = _project(tmp_path / "churn", enabled=False)
    result = _invoke("autopilot", "--project", str(root), "--once")
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert "automation.enabled is false" in str(result.exception)
    assert str(root / "headway.yaml") in str(result.exception)
