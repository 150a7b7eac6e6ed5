"""The ``headway`` command (Typer + Rich); one module per command group."""

from __future__ import annotations

import logging
import os
import sys

import typer

from headway.cli._common import err_console
from headway.cli.autopilot import autopilot, rollout_app
from headway.cli.data import data_app, lineage, reproduce_command, validate
from headway.cli.demo import demo
from headway.cli.features import features_app
from headway.cli.governance import (
    approve,
    archive,
    audit,
    card,
    gate,
    promote,
    reject,
    rollback,
)
from headway.cli.metrics import metrics
from headway.cli.monitor import monitor
from headway.cli.predict import predict
from headway.cli.predictions import feedback, predictions
from headway.cli.project import init, run, status
from headway.cli.quickstart import quickstart
from headway.cli.runs import compare, runs
from headway.cli.serve import serve
from headway.cli.simulate import simulate
from headway.cli.traffic import traffic_app
from headway.exceptions import HeadwayError
from headway.settings import load_settings

__all__ = ["app", "main"]

app = typer.Typer(
    name="headway",
    help="Automated MLOps for tabular predictive models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(quickstart)
app.command()(init)
app.command()(run)
app.command()(serve)
app.command()(predict)
app.command()(status)
app.command()(validate)
app.command()(lineage)
app.command("reproduce")(reproduce_command)
app.command()(runs)
app.command()(compare)
app.command()(gate)
app.command()(approve)
app.command()(reject)
app.command()(promote)
app.command()(rollback)
app.command()(archive)
app.command()(audit)
app.command()(card)
app.command()(predictions)
app.command()(feedback)
app.command()(monitor)
app.command()(simulate)
app.command()(autopilot)
app.command()(demo)
app.command()(metrics)
app.add_typer(data_app, name="data")
app.add_typer(traffic_app, name="traffic")
app.add_typer(rollout_app, name="rollout")
app.add_typer(features_app, name="features")


def _quiet_libraries(level: str) -> None:
    # Loggers by name, not the libraries' own switches: importing MLflow or Optuna here
    # would make every command, --help included, pay for them.
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main() -> None:
    """Entry point: user errors become one red line on stderr and exit code 1."""
    # MLflow draws a progress bar per downloaded artifact; headway shows its own progress.
    # The command owns its process, so it may set these; library code never writes os.environ.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # MLflow reports usage to its makers over the network unless told not to; headway's
    # command does not (set MLFLOW_DISABLE_TELEMETRY=false to allow it).
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _quiet_libraries(load_settings().log_level.upper())
    try:
        app()
    except HeadwayError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)
