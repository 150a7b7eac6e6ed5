"""``headway monitor``: drift, performance and label-free estimates of logged predictions."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from headway.cli._common import ProjectOption, console, err_console, parse_time
from headway.project import Project

if TYPE_CHECKING:
    from headway.monitoring.monitor import WindowReport

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def _interval(perf: dict[str, Any] | None) -> str:
    if not perf or perf.get("value") is None:
        if not perf or not perf.get("note"):
            return "-"
        return f"- ({perf.get('rows', 0)} labels)"
    text = f"{perf['value']:.3f}"
    if perf.get("interval"):
        low, high = perf["interval"]
        text += f" [{low:.3f}, {high:.3f}]"
    if perf.get("dropped"):
        text = f"[red]{text} drop[/red]"
    return f"{text} n={perf.get('rows', 0):,}"


def _table(reports: list[WindowReport], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("window (UTC)", "version", "rows", "drifted columns", "dataset", "output",
                   "realised", "estimated", "alarms"):  # fmt: skip
        table.add_column(column)
    for r in reports:
        if r.status != "ok":
            drifted = r.notes[0] if r.notes else r.status
        else:
            drifted = ", ".join(r.drifted_columns) or "none"
        dataset = r.dataset_drift
        table.add_row(
            f"{r.start:%Y-%m-%d %H:%M} → {r.end:%Y-%m-%d %H:%M}",
            r.model_version,
            f"{r.rows:,}",
            drifted,
            "-"
            if not dataset
            else ("[red]drift[/red]" if dataset["drifted"] else "ok")
            + f" {dataset.get('columns', 0)}/{dataset.get('of', 0)}",
            "-"
            if r.prediction_drift is None
            else ("[red]drift[/red]" if r.prediction_drift.drifted else "ok"),
            _interval(r.performance.get("realised")),
            _interval(r.performance.get("estimated")),
            ", ".join(r.alarms) or "none",
        )
    return table


def _pass(
    loaded: Project,
    *,
    since: datetime | None,
    until: datetime | None,
    window: str | None,
    as_json: bool,
    quiet_progress: bool,
) -> tuple[list[WindowReport], dict[str, Any] | None, list[str]]:
    from headway.monitoring.alerts import alert_payload, send_webhook
    from headway.pipeline.monitor import monitor_project

    if quiet_progress:
        run = monitor_project(loaded, since=since, until=until, window=window)
    else:
        with console.status("testing windows of the prediction log..."):
            run = monitor_project(loaded, since=since, until=until, window=window)
    webhook: dict[str, Any] | None = None
    url = loaded.monitor_webhook_url
    alarmed = [r for r in run.windows if r.alarms]
    if url and alarmed:
        try:
            send_webhook(url, alert_payload(alarmed))
            webhook = {"sent": True, "alerts": sum(len(r.alarms) for r in alarmed)}
        except OSError as exc:
            webhook = {"sent": False, "error": str(exc)}
            err_console.print(f"[yellow]alerts not delivered: {exc}[/yellow]")
    return run.windows, webhook, [str(p) for p in run.pages]


def monitor(
    project: ProjectOption = Path("."),
    window: Annotated[
        str | None,
        typer.Option(
            help="Cut the period into windows: a duration (1h, 1d) or a row count (10000rows). "
            "Default: monitoring.window, else one window from --since to --until."
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start: ISO 8601 (UTC unless it says) or a span back (2h, 7d)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End (excluded), same forms; default now.")
    ] = None,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Run until stopped: every --every seconds, test the latest window "
            "(--window as a duration, or --since as a span back, default 1h).",
        ),
    ] = False,
    every: Annotated[
        float, typer.Option(min=1, help="Seconds between passes with --watch.")
    ] = 60.0,
    as_json: JsonOption = False,
) -> None:
    """Test logged predictions for drift and performance, window by window.

    Each window's input columns, model output and labels are tested against the reference
    of the version that answered them; realised performance uses the labels that arrived
    (headway feedback), the estimate (classifiers) needs none. Results are stored in the
    control plane and exposed by the server's /metrics; alarms go to the webhook.
    """
    from headway.config.monitoring import parse_duration, parse_window

    loaded = Project.load(project)
    if window is not None:
        try:
            parse_window(window)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--window") from exc
    if not watch:
        reports, webhook, pages = _pass(
            loaded,
            since=parse_time(since, "--since"),
            until=parse_time(until, "--until"),
            window=window,
            as_json=as_json,
            quiet_progress=as_json,
        )
        _show(loaded, reports, webhook, pages, as_json)
        return
    span = parse_duration(window) if window else None
    if window and span is None:
        raise typer.BadParameter(
            "--watch tests the latest span of time: give --window as a duration (1h), or "
            "--since as a span back",
            param_hint="--window",
        )
    while True:
        now = datetime.now(UTC)
        start = parse_time(since, "--since") if since else now - (span or parse_duration("1h"))  # type: ignore[operator]
        reports, webhook, pages = _pass(
            loaded, since=start, until=now, window=None, as_json=as_json, quiet_progress=True
        )
        _show(loaded, reports, webhook, pages, as_json, lines=True)
        time.sleep(every)


def _show(
    loaded: Project,
    reports: list[WindowReport],
    webhook: dict[str, Any] | None,
    pages: list[str],
    as_json: bool,
    *,
    lines: bool = False,
) -> None:
    if as_json:
        docs = [r.to_dict() for r in reports]
        if lines:
            for doc in docs:
                typer.echo(json.dumps({**doc, "webhook": webhook, "reports": pages}))
            return
        typer.echo(json.dumps({"windows": docs, "webhook": webhook, "reports": pages}, indent=2))
        return
    if not reports or all(r.status == "empty" for r in reports):
        console.print(
            "No predictions in that period. Serve the model (headway serve) or score a file "
            "(headway predict), then monitor again."
        )
        return
    console.print(_table(reports, title=f"{loaded.config.name}: monitoring"))
    for r in reports:
        for note in r.notes:
            console.print(f"[dim]{r.start:%Y-%m-%d %H:%M}: {note}[/dim]")
    if pages:
        console.print(
            f"Report: {pages[-1]}" + (f" (and {len(pages) - 1} more)" if len(pages) > 1 else "")
        )
