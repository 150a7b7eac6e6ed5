"""``headway demo``: the closed loop on the churn example, told in one command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from headway.cli._common import console, err_console

__all__ = ["demo"]


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="A new directory for the demo project.")
    ] = Path("headway-demo"),
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the generated data.")] = 0,
) -> None:
    """Watch the loop close by itself: a model trained and served, a concept shift
    detected, a retrained version shadowed, canaried and promoted, and a version with a
    leaky feature rolled back on online evidence. A few minutes on a laptop."""
    from headway.automation.demo import run_demo

    def step(text: str) -> None:
        if not as_json:
            err_console.print(f"[dim]·[/dim] {text}", highlight=False)

    result = run_demo(directory, step=step, seed=seed)
    if as_json:
        doc = result.as_dict()
        console.print_json(
            json.dumps({"timeline": doc["timeline"], "metrics": doc["metrics"],
                        "report": doc["report"], "seconds": doc["seconds"]})
        )  # fmt: skip
        return
    table = Table(title="timeline")
    for column in ("at", "event", "version", "detail"):
        table.add_column(column, overflow="fold")
    for e in result.timeline:
        table.add_row(e["at"][11:19], e["event"], e["version"] or "-", e["detail"])
    console.print(table)
    metrics = Table(title="delivery metrics (from the audit log)", show_header=False)
    for key, value in result.metrics.items():
        if key in ("model", "as_of"):
            continue
        metrics.add_row(key, "-" if value is None else str(value))
    console.print(metrics)
    console.print(f"report: {result.report}  ({result.seconds:.0f} s)")
