"""``headway traffic show|set`` through the real entry point: the record, the champion and
the candidate's state; refused changes exit 1 with the reason and leave the record as it
was. Each test has its own control-plane database; the MLflow registry is only read."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from headway import Project, run_pipeline
from headway.controlplane import AuditLog, default_url
from headway.registry import CHAMPION
from tests.helpers import make_tiny_project, run_cli
from tests.test_lazy_import import HEAVY, _imported


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    """v1 the champion; v2 registered, not blessed (it does not beat v1)."""
    root = make_tiny_project(tmp_path_factory.mktemp("traffic-cli") / "churn", rows=1000)
    loaded = Project.load(root)
    assert run_pipeline(loaded).version.aliases == (CHAMPION,)
    assert not run_pipeline(loaded).blessing.blessed
    return loaded


@pytest.fixture
def control_url(tmp_path: Path) -> str:
    return default_url(tmp_path / "control")


def _cli(project: Project, control_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "traffic",
        *args,
        "--project",
        str(project.root),
        env={"HEADWAY_CONTROL_DB_URL": control_url},
    )


def _show(project: Project, control_url: str) -> dict[str, Any]:
    out = _cli(project, control_url, "show", "--json")
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout)
    return doc


def _traffic_events(control_url: str) -> list[dict[str, Any]]:
    with AuditLog(control_url) as log:
        return [e.as_dict() for e in log.events(action="traffic")]


def test_show_before_any_change(project: Project, control_url: str) -> None:
    doc = _show(project, control_url)
    assert doc["model"] == "churn" and doc["champion"] == "1"
    assert doc["candidate"] is None
    deployment = doc["deployment"]
    assert (deployment["mode"], deployment["candidate"], deployment["revision"]) == (
        "single",
        None,
        0,
    )

    text = _cli(project, control_url, "show")
    assert text.returncode == 0, text.stderr
    assert "churn — champion only" in text.stdout
    assert "champion   v1" in text.stdout
    assert "revision   0 (never set)" in text.stdout


def test_set_shadow_then_show_then_single(project: Project, control_url: str) -> None:
    out = _cli(
        project,
        control_url,
        "set",
        "--mode",
        "shadow",
        "--candidate",
        "churn/2",
        "--by",
        "ana",
        "--reason",
        "watch v2",
        "--json",
    )
    assert out.returncode == 0, out.stderr
    written = json.loads(out.stdout)
    assert (written["model"], written["candidate"], written["mode"]) == ("churn", "2", "shadow")
    assert (written["weight"], written["revision"], written["actor"]) == (0.0, 1, "ana")
    assert written["reason"] == "watch v2"

    doc = _show(project, control_url)
    assert doc["deployment"] == written
    assert doc["champion"] == "1"
    assert doc["candidate"] == {
        "version": "2",
        "registered": True,
        "blessed": False,
        "approval": None,
        "aliases": [],
    }
    text = _cli(project, control_url, "show")
    assert "shadow: churn/2 scores every request, the champion answers" in text.stdout
    assert "candidate  v2 (not blessed, approval not asked)" in text.stdout
    assert "by ana" in text.stdout and "reason     watch v2" in text.stdout

    cleared = _cli(project, control_url, "set", "--mode", "single", "--reason", "done")
    assert cleared.returncode == 0, cleared.stderr
    assert "churn: champion only (revision 2)" in cleared.stdout
    after = _show(project, control_url)
    assert after["deployment"]["candidate"] is None and after["deployment"]["revision"] == 2
    assert after["candidate"] is None
    assert [e["details"]["mode"] for e in _traffic_events(control_url)] == ["shadow", "single"]


def test_refused_set_exits_1_and_changes_nothing(project: Project, control_url: str) -> None:
    first = _cli(project, control_url, "set", "--mode", "shadow", "--candidate", "churn/2")
    assert first.returncode == 0, first.stderr
    before = _show(project, control_url)
    assert before["deployment"]["revision"] == 1

    refusals = {
        "not blessed": ("--mode", "canary", "--candidate", "churn/2", "--weight", "0.1"),
        "is the champion": ("--mode", "shadow", "--candidate", "churn/1"),
        "no version 7 of model 'churn'": ("--mode", "shadow", "--candidate", "churn/7"),
        "--mode canary needs --weight": ("--mode", "canary", "--candidate", "churn/2"),
        "entity_column is required in mode 'ab'": (
            "--mode",
            "ab",
            "--candidate",
            "churn/2",
            "--weight",
            "0.5",
        ),
        "unknown --mode 'blue'": ("--mode", "blue", "--candidate", "churn/2"),
    }
    for message, args in refusals.items():
        out = _cli(project, control_url, "set", *args)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert message in out.stderr, (args, out.stderr)
        assert "Traceback" not in out.stderr

    assert _show(project, control_url) == before
    assert len(_traffic_events(control_url)) == 1


def test_traffic_help_loads_nothing_heavy() -> None:
    loaded = _imported("-m", "headway", "traffic", "set", "--help")
    assert sorted(loaded & set(HEAVY)) == []
