"""``headway demo``: the closed loop told on the churn example, end to end, in minutes.

The story, all of it real (the MLflow registry, ``headway serve`` in a process of its own,
the prediction log, the monitor, the autopilot):

1. the first model is trained and promoted, and served;
2. customers arrive (the simulator replays rows of the example's population through the
   server and sends their labels a little later);
3. the world changes: a concept shift (price sensitivity grows, support tickets stop
   mattering); ``headway monitor`` sees the realised performance fall;
4. the autopilot's performance trigger fires: it retrains on the champion's data plus the
   labelled predictions, the gates bless the new version, and its rollout starts: shadow,
   then canary 25% and 50%, comparing it with the champion on the same live traffic with
   an always-valid test, until it is promoted;
5. then a version that looks excellent offline is trained from a CRM export where
   ``days_since_last_login`` was recorded after customers had left (churners stopped
   logging in): the feature leaks the label in the export, not at serving time. The gates
   bless it; online, in its shadow step, the autopilot sees it is worse and rolls it back
   before it answers anyone.

The timeline (from the audit log and the demo's own steps), the delivery metrics and an
HTML page with a plot come back in a :class:`DemoResult`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import yaml

from headway.automation.controller import Autopilot
from headway.controlplane import AuditLog, RolloutStore
from headway.controlplane.delivery import read_delivery_metrics
from headway.datasets import make_stream, write_example
from headway.datasets.churn import CHURN_TARGET, make_churn
from headway.exceptions import HeadwayError, ServingError
from headway.monitoring.simulator import simulate
from headway.pipeline.monitor import monitor_project
from headway.pipeline.run import run_pipeline
from headway.predictions import open_prediction_log
from headway.project import Project
from headway.reports.demo import render_demo_html

__all__ = ["DemoResult", "run_demo"]

Step = Callable[[str], None]

_SHIFT = 3.0  # strength of the concept shift (make_churn's drift_strength)
_ROWS_PER_ROUND = 400
_MAX_ROUNDS = 16


@dataclass
class DemoResult:
    """What the demo did: its timeline, the delivery metrics, its page."""

    directory: Path
    timeline: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    report: Path | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "timeline": self.timeline,
            "metrics": self.metrics,
            "report": str(self.report) if self.report else None,
            "seconds": round(self.seconds, 1),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _write_project(directory: Path, port: int, seed: int) -> Project:
    write_example("churn", directory, n_rows=3000, seed=seed)
    path = directory / "headway.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config["training"].update(
        {
            "budget": {"trials": 6, "timeout_seconds": 60},
            "model_families": ["lightgbm"],
            "n_workers": 1,  # the same search every time: the story is repeatable
        }
    )
    config.setdefault("evaluation", {})["explain"] = False
    config["monitoring"] = {"min_rows": 100, "min_labels": 100}
    config["automation"] = {
        "enabled": True,
        "cooldown": "1s",
        "triggers": {"drift": True, "performance": True},
        "retrain": {"window": "1d", "min_new_rows": 200, "max_history_rows": 300},
        "rollout": {
            "steps": [
                {"mode": "shadow", "min_rows": 400},
                {"mode": "canary", "weight": 0.25, "min_rows": 100},
                {"mode": "canary", "weight": 0.5, "min_rows": 200},
            ],
            "min_labels": 100,
            "min_effect": 0.05,
            "metrics_urls": [f"http://127.0.0.1:{port}"],
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return Project.load(directory)


class _Server:
    """``headway serve`` in a process of its own."""

    def __init__(self, project: Project, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        log = project.state_dir / "demo-server.log"
        self._out = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "headway", "serve", "--project", str(project.root),
             "--port", str(port), "--workers", "1"],
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )  # fmt: skip
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise ServingError(f"headway serve exited; see {log}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ServingError(f"headway serve was not ready within 90 s; see {log}")
            time.sleep(0.2)

    def version(self) -> str | None:
        try:
            doc = httpx.get(f"{self.url}/version", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        found = (doc.get("model") or {}).get("version") if isinstance(doc, dict) else None
        return str(found) if found is not None else None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self._out.close()


class _Story:
    def __init__(self, project: Project, server: _Server, step: Step, seed: int) -> None:
        self.project = project
        self.server = server
        self.step = step
        self.seed = seed
        self.events: list[dict[str, Any]] = []
        self._batches = 0

    def note(self, event: str, detail: str, version: str | None = None) -> None:
        self.events.append(
            {
                "at": datetime.now(UTC).isoformat(),
                "event": event,
                "model": self.project.config.model_name,
                "version": version,
                "detail": detail,
            }
        )
        self.step(detail)

    def send(self, rows: int, *, shifted: bool) -> None:
        self._batches += 1
        frame = make_stream(
            "churn",
            rows,
            drift="concept" if shifted else None,
            at=0 if shifted else None,
            strength=_SHIFT,
            seed=self.seed * 1000 + self._batches,
        )
        result = simulate(
            self.server.url, frame, target=CHURN_TARGET, batch_rows=10, label_delay=20
        )
        if result.failed_requests:
            raise ServingError(
                f"{result.failed_requests} demo requests failed: {result.failures_by_status}"
            )
        time.sleep(0.3)  # shadow rows are logged in the background

    def pilot_until_done(self, pilot: Autopilot) -> None:
        """Traffic and autopilot passes until the active rollout ends."""
        with RolloutStore.for_project(self.project) as rollouts:
            for _ in range(_MAX_ROUNDS):
                if rollouts.active(self.project.config.model_name) is None:
                    return
                self.send(_ROWS_PER_ROUND, shifted=True)
                for event in pilot.run_once().events:
                    self.step(f"autopilot: {event['event']} v{event['version']}: "
                              f"{event['detail']}")  # fmt: skip
                if rollouts.active(self.project.config.model_name) is None:
                    return
                time.sleep(1.5)  # the server follows the deployment record within a second
        raise HeadwayError(f"the rollout did not end within {_MAX_ROUNDS} rounds of traffic")


def _leaky_export(seed: int) -> pd.DataFrame:
    """A CRM export of the shifted world taken after the fact: customers who left stopped
    logging in, so their ``days_since_last_login`` says they churned. At serving time, the
    customers have not left yet: the value is the usual one."""
    frame = make_churn(
        3000, seed=seed + 101, drift="concept", drift_strength=_SHIFT, start="2026-01-01",
        days=300,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    churned = frame[CHURN_TARGET] == 1
    bump = rng.normal(35, 5, int(churned.sum())).round(1)
    frame.loc[churned, "days_since_last_login"] = (
        frame.loc[churned, "days_since_last_login"].fillna(0) + bump
    )
    return frame


_AUDIT_EVENTS = {
    "promoted": "promoted",
    "retrain_started": "retrain_triggered",
    "rollout_started": "rollout_step",
    "rollout_advanced": "rollout_step",
    "rollout_rolled_back": "rolled_back",
    "rollout_expired": "rollout_expired",
}


def _timeline(project: Project, own: list[dict[str, Any]]) -> list[dict[str, Any]]:
    model = project.config.model_name
    out = list(own)
    with AuditLog.for_project(project) as audit:
        events = audit.events(model=model)
    for e in events:
        name = _AUDIT_EVENTS.get(e.action)
        if e.action in ("blessed", "not_blessed"):
            name = "trained"
        elif e.action == "trigger_fired":
            kind = e.details.get("trigger")
            name = "drift_detected" if kind in ("drift", "performance") else "trigger_fired"
        if name is None:
            continue
        detail = e.reason
        if e.action in ("blessed", "not_blessed"):
            detail = ("blessed: " if e.action == "blessed" else "not blessed: ") + e.reason
        out.append(
            {"at": e.at.isoformat(), "event": name, "model": model, "version": e.version,
             "detail": detail}
        )  # fmt: skip
    return sorted(out, key=lambda e: e["at"])


def _answers(project: Project) -> list[tuple[datetime, float, str]]:
    with open_prediction_log(project.predictions_url, project.predictions_dir) as log:
        rows = log.joined()
    rows = rows[(rows["route"] != "shadow") & rows["label"].notna()]
    out = []
    for at, outputs, label, version in zip(
        pd.to_datetime(rows["timestamp"], utc=True), rows["outputs"], rows["label"],
        rows["model_version"], strict=True,
    ):  # fmt: skip
        correct = float(str(outputs.get("prediction")) == str(int(float(label))))
        out.append((at.to_pydatetime(), correct, str(version)))
    return sorted(out, key=lambda a: a[0])


def run_demo(directory: Path, *, step: Step | None = None, seed: int = 0) -> DemoResult:
    """Tell the whole story in ``directory`` (a new churn project); see the module.

    Raises:
        HeadwayError: ``directory`` already holds a project, or a step failed (the message
            says which; the server's output is in ``.headway/demo-server.log``).
    """
    say = step or (lambda _: None)
    started = time.perf_counter()
    directory = Path(directory)
    if (directory / "headway.yaml").exists():
        raise HeadwayError(
            f"{directory} already holds a project; give the demo a new --dir (or remove it)"
        )
    port = _free_port()
    project = _write_project(directory, port, seed)
    result = DemoResult(directory=directory.resolve())

    say("training the first model on 3,000 customers")
    first = run_pipeline(project)
    server = _Server(project, port)
    story = _Story(project, server, say, seed)
    try:
        story.note("serving", f"v{first.version.version} serves at {server.url}",
                   first.version.version)  # fmt: skip
        story.send(600, shifted=False)
        story.note("traffic", "600 customers scored, their labels sent as they arrived")
        shift_at = datetime.now(UTC)
        story.note(
            "shift_injected",
            "the world changes: price sensitivity grows, support tickets stop mattering "
            "(concept shift: same inputs, new rule)",
        )
        story.send(1200, shifted=True)
        run = monitor_project(project, since=shift_at)
        window = run.windows[-1] if run.windows else None
        alarms = ", ".join(window.alarms) if window and window.alarms else "none"
        story.note("monitored", f"headway monitor on the rows since the shift: alarms {alarms}")

        pilot = Autopilot(project, holder="demo")
        for event in pilot.run_once().events:
            say(f"autopilot: {event['event']} v{event['version']}: {event['detail']}")
        time.sleep(1.5)
        story.pilot_until_done(pilot)
        champion = _champion(project)
        lag: float | None = None
        if champion != first.version.version:
            deadline = time.monotonic() + 15
            while server.version() != champion and time.monotonic() < deadline:
                time.sleep(0.05)
            lag = (datetime.now(UTC) - _promoted_at(project, champion)).total_seconds()
            story.note(
                "serving",
                f"the server answers with v{champion}, {lag:.1f} s after its promotion",
                champion,
            )

        say("training a version on a CRM export where logins were recorded after churn")
        leaky = run_pipeline(project, frame=_leaky_export(seed),
                             source_uri="demo://crm-export-after-churn")  # fmt: skip
        if leaky.blessing.blessed:
            for event in pilot.run_once().events:
                say(f"autopilot: {event['event']} v{event['version']}: {event['detail']}")
            time.sleep(1.5)
            story.pilot_until_done(pilot)
        else:
            story.note("trained", "the leaky version was not blessed offline; nothing to roll out",
                       leaky.version.version)  # fmt: skip
        pilot.release()
    finally:
        server.stop()

    result.timeline = _timeline(project, story.events)
    with AuditLog.for_project(project) as audit:
        metrics = read_delivery_metrics(audit, model=project.config.model_name)
    result.metrics = {
        **metrics.as_dict(),
        "promotion_to_serving_seconds": None if lag is None else round(lag, 2),
    }
    result.seconds = time.perf_counter() - started
    page = project.state_dir / "reports" / "demo.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        render_demo_html(
            title="headway demo: the closed loop on churn",
            timeline=result.timeline,
            metrics=result.metrics,
            answers=_answers(project),
            meta=[f"project {directory.resolve()}", f"{result.seconds:.0f} s"],
        ),
        encoding="utf-8",
    )
    result.report = page
    return result


def _champion(project: Project) -> str | None:
    from headway.registry import CHAMPION, ModelRegistry

    info = ModelRegistry(project.tracking_uri, project.registry_uri).version_by_alias(
        project.config.model_name, CHAMPION
    )
    return info.version if info else None


def _promoted_at(project: Project, version: str | None) -> datetime:
    with AuditLog.for_project(project) as audit:
        found = audit.events(model=project.config.model_name, version=version, action="promoted")
    if not found:
        raise HeadwayError(f"v{version} was never promoted")
    return found[-1].at
