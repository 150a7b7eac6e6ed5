"""``headway demo`` end to end, through the real command: a fresh project, the real server
in its own process, the simulator, the monitor and the autopilot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_cli


def test_the_demo_closes_the_loop(tmp_path: Path) -> None:
    out = run_cli("demo", "--dir", str(tmp_path / "demo"), "--json", timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    doc = json.loads(out.stdout)
    timeline = doc["timeline"]
    assert set(timeline[0]) == {"at", "event", "model", "version", "detail"}
    story = [(e["event"], e["version"]) for e in timeline]

    def first(event: str, version: str | None = None) -> int:
        return next(
            i
            for i, (name, v) in enumerate(story)
            if name == event and (version is None or v == version)
        )

    # v1 trained and promoted; the shift detected; v2 retrained, rolled out and promoted;
    # the leaky v3 blessed offline and rolled back online.
    order = [
        first("trained", "1"),
        first("promoted", "1"),
        first("drift_detected"),
        first("retrain_triggered"),
        first("trained", "2"),
        first("rollout_step", "2"),
        first("promoted", "2"),
        first("trained", "3"),
        first("rolled_back", "3"),
    ]
    assert order == sorted(order), story
    steps = [e["detail"] for e in timeline if e["event"] == "rollout_step" and e["version"] == "2"]
    assert any("canary" in d for d in steps), steps
    promoted = next(e for e in timeline if e["event"] == "promoted" and e["version"] == "2")
    assert "better" in promoted["detail"] and "always-valid" in promoted["detail"]

    metrics = doc["metrics"]
    assert metrics["deployments"] == 2
    assert metrics["rollouts_promoted"] == 1 and metrics["rollouts_rolled_back"] == 1
    # one failed change (v3's rollout) of three: v1 and v2 promoted, v3 rolled back
    assert metrics["change_failure_rate"] == pytest.approx(1 / 3)
    assert metrics["retrains_by_trigger"] == {"performance": 1}
    assert metrics["promotion_to_serving_seconds"] is not None
    assert metrics["lead_time_from_training_end_seconds"] is not None

    page = Path(doc["report"])
    html = page.read_text(encoding="utf-8")
    assert "Timeline" in html and "data:image/png;base64," in html
    assert "rolled back" in html
