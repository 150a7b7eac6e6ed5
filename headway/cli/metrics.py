"""``headway metrics``: how often, how fast and how safely a model's versions reach
production, read from the audit log (see :mod:`headway.controlplane.delivery`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console
from headway.project import Project

if TYPE_CHECKING:
    from headway.controlplane.delivery import DeliveryMetrics

__all__ = ["metrics"]


def _duration(seconds: float | None) -> str:
    """A duration for people: seconds, minutes, hours or days; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _table(found: DeliveryMetrics) -> Table:
    title = f"{found.model}: delivery over the last {found.window_days:g} days"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    rate = found.change_failure_rate
    by_trigger = ", ".join(f"{k} {v}" for k, v in sorted(found.retrains_by_trigger.items()))
    rows = [
        ("deployments", f"{found.deployments} ({found.deployment_frequency_per_day:.2f}/day)"),
        ("lead time from training start", _duration(found.lead_time_from_training_start_seconds)),
        ("lead time from training end", _duration(found.lead_time_from_training_end_seconds)),
        ("  latest deployment", _duration(found.last_lead_time_from_training_end_seconds)),
        (
            "rollouts ended",
            f"{found.rollouts} (promoted {found.rollouts_promoted}, rolled back "
            f"{found.rollouts_rolled_back}, expired {found.rollouts_expired}, aborted "
            f"{found.rollouts_aborted})",
        ),
        (
            "change failure rate",
            "-" if rate is None else f"{rate:.0%} ({found.failed_changes}/{found.changes})",
        ),
        (
            "mean time to recovery",
            f"{_duration(found.mean_time_to_recovery_seconds)} "
            f"({found.incidents_recovered} recovered)",
        ),
        ("open incident", _duration(found.open_incident_seconds)),
        ("model age", _duration(found.model_age_seconds)),
        ("retrains", f"{found.retrains}" + (f" ({by_trigger})" if by_trigger else "")),
        ("review time", _duration(found.review_time_seconds)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def metrics(
    project: ProjectOption = Path("."),
    model: Annotated[
        str | None, typer.Option(help="The registered model (default: the project's).")
    ] = None,
    window_days: Annotated[
        float, typer.Option("--window-days", help="Count the events of the last N days.")
    ] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Delivery metrics of a model from the audit log: deployments per day, lead time from
    training to production, change failure rate, mean time to recovery, model age,
    retrains by trigger and review time."""
    if window_days <= 0 or window_days != window_days:
        raise typer.BadParameter(
            f"{window_days:g} is not a positive number of days; give e.g. 30",
            param_hint="--window-days",
        )
    loaded = Project.load(project)
    name = model or loaded.config.model_name
    from headway.controlplane.delivery import delivery_metrics, read_delivery_metrics

    now = datetime.now(UTC)
    if loaded.uses_embedded_control_plane and not loaded.control_db_path.exists():
        # Never run: do not create an empty store just to look into it.
        found = delivery_metrics([], model=name, now=now, window_days=window_days)
    else:
        from headway.controlplane import AuditLog

        with AuditLog.for_project(loaded) as log:
            found = read_delivery_metrics(log, model=name, now=now, window_days=window_days)
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    console.print(_table(found))
