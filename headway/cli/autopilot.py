"""``headway autopilot`` (the controller) and ``headway rollout status|pause|resume|abort``."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console
from headway.exceptions import ConfigError, HeadwayError
from headway.project import Project

if TYPE_CHECKING:
    from headway.automation.controller import PassReport
    from headway.controlplane import Rollout

__all__ = ["autopilot", "rollout_app"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ByOption = Annotated[str | None, typer.Option("--by", help="Who decides (default: OS user).")]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")]

rollout_app = typer.Typer(
    help="The autopilot's rollouts: status, and pause, resume or abort by hand.",
    no_args_is_help=True,
)


def _enabled(project: Project) -> None:
    if not project.config.automation.enabled:
        raise ConfigError(
            f"{project.root / 'headway.yaml'}: automation.enabled is false; set "
            "'automation: {enabled: true}' to let headway autopilot act on this project"
        )


def autopilot(
    project: ProjectOption = Path("."),
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit (cron).")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Run the autopilot: retrain when a trigger fires, roll blessed versions out, promote
    or roll back on online evidence. One controller per project acts at a time."""
    from headway.automation.controller import Autopilot

    loaded = Project.load(project)
    _enabled(loaded)
    pilot = Autopilot(loaded)

    def show(report: PassReport) -> None:
        if as_json:
            console.print_json(json.dumps(report.as_dict()))
            return
        stamp = report.at.strftime("%H:%M:%S")
        for event in report.events:
            version = f" v{event['version']}" if event["version"] else ""
            console.print(f"{stamp} [bold]{event['event']}[/bold]{version}: {event['detail']}")
        if report.note and not report.events:
            console.print(f"{stamp} {report.note}", style="dim")

    if once:
        try:
            show(pilot.run_once())
        finally:
            pilot.release()
        return
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if not as_json:
        console.print(
            f"autopilot of {loaded.config.model_name} ({pilot.holder}), every "
            f"{loaded.config.automation.interval}; Ctrl-C stops it"
        )
    pilot.run(stop=stop, on_pass=show)


def _store(project: Path) -> tuple[Project, Any]:
    from headway.controlplane import RolloutStore

    loaded = Project.load(project)
    return loaded, RolloutStore.for_project(loaded)


def _describe(rollout: Rollout) -> dict[str, Any]:
    steps = rollout.state.get("steps", [])
    evidence = rollout.state.get("evidence", {})
    return {
        **rollout.as_dict(),
        "steps_total": len(steps),
        "current_step": steps[rollout.step] if rollout.step < len(steps) else None,
        "test": evidence.get("test"),
        "guardrails": evidence.get("guardrails"),
        "verdict": evidence.get("verdict"),
    }


@rollout_app.command("status")
def status(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option("--model")] = None,
    as_json: JsonFlag = False,
) -> None:
    """The active rollout (or the last one) and its latest evidence."""
    loaded, store = _store(project)
    name = model or loaded.config.model_name
    with store:
        current = store.active(name) or next(iter(store.history(name, limit=1)), None)
    if current is None:
        if as_json:
            console.print_json(json.dumps({"model": name, "rollout": None}))
        else:
            console.print(f"{name}: no rollout yet")
        return
    doc = _describe(current)
    if as_json:
        console.print_json(json.dumps({"model": name, "rollout": doc}))
        return
    table = Table(title=f"{name}: rollout #{current.id}", show_header=False)
    step = doc["current_step"] or {}
    mode = step.get("mode", "?")
    share = f" {float(step.get('weight', 0)):.0%}" if mode in ("canary", "ab") else ""
    rows = [
        ("candidate", f"v{current.candidate} (champion v{current.champion})"),
        ("status", current.status),
        ("step", f"{current.step + 1} of {doc['steps_total']}: {mode}{share}"),
        ("started", current.started_at.isoformat(timespec="seconds")),
        ("last decision", current.reason),
    ]
    test = doc["test"] or {}
    if test.get("started"):
        rows.append(
            (
                "test",
                f"difference {test['difference']:+.4f}, always-valid interval "
                f"[{test['ci_low']:+.4f}, {test['ci_high']:+.4f}], p {test['p_value']:.3g}",
            )
        )
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)


def _change(project: Path, model: str | None, by: str | None, reason: str, action: str) -> None:
    from headway.controlplane import AuditLog, default_actor

    loaded, store = _store(project)
    name = model or loaded.config.model_name
    actor = by or default_actor()
    if action == "abort":
        from headway.automation.controller import Autopilot

        store.close()
        ended = Autopilot(loaded).abort(actor=actor, reason=reason)
        console.print(f"rollout #{ended.id} of {name}: {ended.status}")
        return
    with store, AuditLog.for_project(loaded) as audit:
        current = store.active(name)
        if current is None:
            raise HeadwayError(f"{name} has no active rollout to {action}")
        if action == "pause" and current.status == "paused":
            raise HeadwayError(f"rollout #{current.id} of {name} is already paused")
        if action == "resume" and current.status != "paused":
            raise HeadwayError(f"rollout #{current.id} of {name} is not paused")
        status = {"pause": "paused", "resume": "running"}[action]
        updated = store.update(current, status=status, reason=f"{action}d by {actor}: {reason}")
        audit.record(
            {"pause": "rollout_paused", "resume": "rollout_resumed"}[action],
            model=name,
            version=current.candidate,
            actor=actor,
            reason=reason,
            details={"rollout_id": current.id, "step": current.step + 1},
        )
    console.print(f"rollout #{updated.id} of {name}: {updated.status}")


@rollout_app.command("pause")
def pause(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option("--model")] = None,
    by: ByOption = None,
    reason: ReasonOption = "",
) -> None:
    """Hold the rollout where it is: traffic stays as it is, no decision is taken."""
    _change(project, model, by, reason, "pause")


@rollout_app.command("resume")
def resume(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option("--model")] = None,
    by: ByOption = None,
    reason: ReasonOption = "",
) -> None:
    """Let a paused rollout go on."""
    _change(project, model, by, reason, "resume")


@rollout_app.command("abort")
def abort(
    project: ProjectOption = Path("."),
    model: Annotated[str | None, typer.Option("--model")] = None,
    by: ByOption = None,
    reason: ReasonOption = "",
) -> None:
    """Stop the rollout: the champion answers alone again, the candidate leaves."""
    _change(project, model, by, reason, "abort")
