"""``headway simulate``: traffic for demos and tests, with a drift point inside the stream.

The rows come from the generator of the bundled example the project was made from
(``headway init --example``). The example is told by the project's target column, the
one each example's ``headway.yaml`` names (``churned``: churn, ``defaulted``: credit,
``units_sold``: demand); ``--example`` names it for a project whose target was renamed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from headway.cli._common import ProjectOption, console, err_console
from headway.exceptions import ConfigError, ServingError
from headway.project import Project

if TYPE_CHECKING:
    import pandas as pd

    from headway.datasets.stream import StreamDrift
    from headway.monitoring.simulator import SimulationResult

__all__ = ["simulate"]

_ANY_HOST = ("", "0.0.0.0", "::", "[::]")


def simulate(
    project: ProjectOption = Path("."),
    rows: Annotated[int, typer.Option(min=1, help="Rows to send.")] = 1_000,
    drift: Annotated[
        str | None,
        typer.Option(
            help="covariate (the inputs move), concept (the rule linking inputs to labels "
            "changes) or gradual (covariate drift setting in over --width rows); "
            "default: none.",
        ),
    ] = None,
    at: Annotated[
        int | None,
        typer.Option(min=0, help="First drifted row (with --drift); default: --rows / 2."),
    ] = None,
    width: Annotated[
        int,
        typer.Option(
            min=0,
            help="--drift gradual: rows over which the drifted share rises from 0 to 1; "
            "0: the rest of the stream.",
        ),
    ] = 0,
    strength: Annotated[
        float, typer.Option(min=0.0, help="Scale of the drift, 0 (none) to about 2 (severe).")
    ] = 1.0,
    label_delay: Annotated[
        int,
        typer.Option(
            min=0, help="Send a row's label as feedback once this many further rows are answered."
        ),
    ] = 100,
    no_labels: Annotated[
        bool, typer.Option("--no-labels", help="Send no labels (predictions only).")
    ] = False,
    rate: Annotated[
        float | None,
        typer.Option(help="Requests per second at most; default: as fast as the server answers."),
    ] = None,
    batch_rows: Annotated[int, typer.Option(min=1, help="Rows per request.")] = 1,
    url: Annotated[
        str | None,
        typer.Option(help="The server's base URL; default: http://127.0.0.1:<serving.port>."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            help="Bearer token; default: a predict (else admin) token of HEADWAY_API_TOKENS or "
            "serving.token_file, when there is one."
        ),
    ] = None,
    example: Annotated[
        str | None,
        typer.Option(
            help="The example generator: churn, credit or demand; default: told by the "
            "project's target column."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the stream.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the counts as JSON (no prediction ids).")
    ] = False,
) -> None:
    """Send rows of the project's example generator to a running server, and their labels.

    Each row is posted to /invocations; its label follows on /feedback once --label-delay
    further rows were answered (the rest at the end). With --drift the stream changes at
    row --at, so that 'headway monitor' has something to find. Stream ids start with S and
    never collide with the training rows'.
    """
    from headway.datasets import make_stream
    from headway.monitoring.simulator import simulate as run_simulation

    kind = _check_options(rows=rows, drift=drift, at=at, width=width, rate=rate)
    loaded = Project.load(project)
    name = _example_of(loaded, example)
    target = loaded.config.data.target
    base_url = url or _default_url(loaded)
    try:
        stream = make_stream(
            name,
            rows,
            drift=kind,
            at=at,
            width=width,
            strength=strength,
            seed=seed,
        )
    except ValueError as exc:
        raise ConfigError(f"cannot make the {name} stream: {exc}") from exc
    _check_target(stream, target, name)
    delay = None if no_labels else label_delay
    if not as_json:
        where = "" if drift is None else f", {drift} drift from row {_drift_row(drift, at, rows)}"
        console.print(
            f"Sending {rows:,} rows of the {name} stream{where} to {base_url}", highlight=False
        )
    result = _run(
        run_simulation,
        quiet=as_json,
        rows=rows,
        url=base_url,
        frame=stream,
        target=target,
        batch_rows=batch_rows,
        rate=rate,
        label_delay=delay,
        token=_token(loaded, token),
    )
    if as_json:
        doc = {"example": name, "drift": drift, "at": _drift_row(drift, at, rows)}
        typer.echo(json.dumps({**doc, **result.as_dict()}, indent=2))
        if result.rows_answered == 0:
            raise typer.Exit(1)
        return
    _report(result, label_delay=delay)


def _check_options(
    *, rows: int, drift: str | None, at: int | None, width: int, rate: float | None
) -> StreamDrift | None:
    """The drift, once the options' combinations are checked (errors name the flags)."""
    kinds: dict[str, StreamDrift] = {
        "covariate": "covariate",
        "concept": "concept",
        "gradual": "gradual",
    }
    if drift is not None and drift not in kinds:
        raise typer.BadParameter(
            f"{drift!r} is not a drift; give one of {', '.join(kinds)}", param_hint="--drift"
        )
    if at is not None and drift is None:
        raise typer.BadParameter(
            "--at needs --drift (covariate, concept or gradual)", param_hint="--at"
        )
    if at is not None and at >= rows:
        raise typer.BadParameter(
            f"--at {at} is not a row of the stream: give 0 <= --at < --rows ({rows})",
            param_hint="--at",
        )
    if width and drift != "gradual":
        raise typer.BadParameter("--width applies to --drift gradual only", param_hint="--width")
    if rate is not None and not rate > 0:
        raise typer.BadParameter(
            f"{rate} is not a rate: give requests per second > 0", param_hint="--rate"
        )
    return None if drift is None else kinds[drift]


def _drift_row(drift: str | None, at: int | None, rows: int) -> int | None:
    if drift is None:
        return None
    return rows // 2 if at is None else at


def _example_of(loaded: Project, example: str | None) -> str:
    """The example generator of the project: ``example``, else told by the target column."""
    from headway.datasets.churn import CHURN_TARGET
    from headway.datasets.credit import CREDIT_TARGET
    from headway.datasets.demand import DEMAND_TARGET
    from headway.datasets.stream import STREAM_EXAMPLES

    if example is not None:
        if example not in STREAM_EXAMPLES:
            raise typer.BadParameter(
                f"{example!r} is not an example; give one of {', '.join(STREAM_EXAMPLES)}",
                param_hint="--example",
            )
        return example
    by_target = {CHURN_TARGET: "churn", CREDIT_TARGET: "credit", DEMAND_TARGET: "demand"}
    target = loaded.config.data.target
    if target not in by_target:
        known = ", ".join(f"{column} ({name})" for column, name in by_target.items())
        raise ConfigError(
            f"{loaded.root}: cannot tell which example generator feeds this project: its "
            f"target {target!r} is none of the examples' targets ({known}); give "
            "--example churn, credit or demand"
        )
    return by_target[target]


def _check_target(stream: pd.DataFrame, target: str, name: str) -> None:
    if target not in stream.columns:
        raise ConfigError(
            f"the {name} example's rows have no column {target!r} (the project's "
            f"data.target); give the project's example with --example"
        )


def _default_url(loaded: Project) -> str:
    serving = loaded.config.serving
    host = "127.0.0.1" if serving.host in _ANY_HOST else serving.host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address
    return f"http://{host}:{serving.port}"


def _token(loaded: Project, token: str | None) -> str | None:
    """``token``, else a configured token of the role predict (least privilege) or admin."""
    if token is not None:
        return token
    tables: list[dict[str, str]] = []
    api_tokens = loaded.settings.api_tokens
    token_file = loaded.config.serving.token_file
    if not api_tokens and not token_file:
        return None
    from headway.serving.auth import merge_tokens, parse_api_tokens, read_token_file

    if api_tokens:
        tables.append(parse_api_tokens(api_tokens))
    if token_file:
        tables.append(read_token_file(loaded.root / token_file))
    configured = merge_tokens(*tables) or {}
    for role in ("predict", "admin"):
        for candidate, candidate_role in configured.items():
            if candidate_role == role:
                return candidate
    return None


def _run(
    run_simulation: Callable[..., SimulationResult],
    *,
    quiet: bool,
    rows: int,
    **kwargs: Any,
) -> SimulationResult:
    """``run_simulation(**kwargs)`` under a progress bar (none when ``quiet``)."""
    if quiet:
        return run_simulation(**kwargs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]simulate"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[labels]}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("simulate", total=rows, labels="")

        def progress(sent: int, labels: int) -> None:
            bar.update(task, completed=sent, labels=f"{labels:,} labels")

        return run_simulation(on_progress=progress, **kwargs)


def _report(result: SimulationResult, *, label_delay: int | None) -> None:
    """The run in a few lines; warnings for what failed."""
    console.print(
        f"[green]✓[/green] {result.rows_sent:,} rows sent to {result.url} in "
        f"{result.requests:,} requests ({result.elapsed_seconds:.1f}s): "
        f"{result.rows_answered:,} answered",
        highlight=False,
    )
    if label_delay is not None:
        console.print(
            f"[green]✓[/green] {result.labels_sent:,} labels sent {label_delay:,} rows after "
            f"their prediction: {result.labels_accepted:,} stored",
            highlight=False,
        )
    if result.failures:
        statuses = ", ".join(
            f"{count} x {'no answer' if status == 'none' else 'HTTP ' + status}"
            for status, count in result.failures_by_status().items()
        )
        first = result.failures[0]
        err_console.print(
            f"[yellow]warning:[/yellow] {len(result.failures):,} requests failed ({statuses}); "
            f"first: {first.route} at row {first.first_row}: {first.message}",
            highlight=False,
            soft_wrap=True,
        )
    if result.unknown_ids:
        err_console.print(
            f"[yellow]warning:[/yellow] {len(result.unknown_ids):,} labels for ids the server's "
            "log does not know (not stored)",
            highlight=False,
        )
    if result.labels_refused:
        err_console.print(
            f"[yellow]warning:[/yellow] {result.labels_refused:,} labels refused as malformed",
            highlight=False,
        )
    if result.rows_answered == 0:
        raise ServingError(
            f"the prediction server at {result.url} answered none of the {result.rows_sent:,} "
            "rows; see the failures above and the server's log"
        )
