"""``headway quickstart``: an example project through the whole loop, then served and called."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.panel import Panel

from headway.cli._common import RichObserver, console
from headway.cli.project import print_result
from headway.cli.serve import serving_settings
from headway.datasets import EXAMPLES, write_example
from headway.exceptions import ServingError
from headway.project import CONFIG_FILENAME, Project
from headway.redact import redact_uri

if TYPE_CHECKING:
    import pandas as pd


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundServer:
    """uvicorn in a thread, for as long as the ``with`` block lasts."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        import uvicorn

        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="headway-server", daemon=True)
        self.url = f"http://{host}:{port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServingError(f"the server did not start on {self.url} (port in use?)")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def quickstart(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to create the example project.")
    ] = Path("headway-quickstart"),
    rows: Annotated[int, typer.Option(min=500, help="Rows of example data.")] = 50_000,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port; 0 picks a free one.")] = 0,
    keep_serving: Annotated[
        bool, typer.Option("--keep-serving", help="Keep the server running until Ctrl-C.")
    ] = False,
) -> None:
    """Create the churn example, run the whole pipeline, serve the champion and call it."""
    import httpx
    import pandas as pd

    from headway.pipeline import run_pipeline
    from headway.serving import create_app

    started = time.perf_counter()
    if not (directory / CONFIG_FILENAME).exists():
        with console.status(f"Generating {rows:,} rows of churn data in {directory}..."):
            write_example("churn", directory, n_rows=rows)
        console.print(f"[green]✓[/green] [bold]{'init':<9}[/bold] example project in {directory}")
    else:
        console.print(
            f"[green]✓[/green] [bold]{'init':<9}[/bold] reusing the project in {directory}"
        )
    project = Project.load(directory)
    with RichObserver(console) as observer:
        result = run_pipeline(project, observer=observer)
    print_result(result)

    host = "127.0.0.1"
    app = create_app(serving_settings(project, None))
    served = app.state.serving.model
    sample = pd.read_csv(directory / EXAMPLES["churn"].data_file, nrows=3)
    features = sample.drop(columns=[project.config.data.target])
    body = {"dataframe_split": {"columns": list(features.columns), "data": _rows(features)}}
    with BackgroundServer(app, host, port or _free_port(host)) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            client.get("/health/ready").raise_for_status()
            response = client.post("/invocations", json=body)
            response.raise_for_status()
            answer = response.json()
        lines = [
            f"dataset      {result.dataset.short_hash} ({result.dataset.n_rows:,} rows)",
            f"best model   {result.model.family}, valid {result.model.metric} "
            f"{result.model.valid_score:.4f} after {result.model.n_trials} trials",
            "test metrics "
            + ", ".join(f"{k} {v:.4f}" for k, v in result.evaluation.metrics.items()),
            f"registered   {result.version.name} v{result.version.version}"
            + (f" @{', @'.join(result.version.aliases)}" if result.version.aliases else ""),
            f"served       {served.name} v{served.version} at {server.url}/invocations",
            f"sample       {features.iloc[0][project.config.data.id_column or 0]} -> "
            f"prediction {answer['predictions'][0]}, probability "
            f"{answer.get('probabilities', [None])[0]}",
            f"tracking     {redact_uri(project.tracking_uri)}",
            f"took         {time.perf_counter() - started:.1f}s",
        ]
        console.print(Panel("\n".join(lines), title="headway quickstart", expand=False))
        console.print(
            f"Try it:\n  curl -s {server.url}/invocations -H 'Content-Type: application/json' "
            f"-d '{{\"dataframe_records\": [...]}}'"
        )
        if keep_serving:
            console.print(f"Serving at {server.url} — press Ctrl-C to stop.")
            try:
                while server.thread.is_alive():
                    time.sleep(0.5)
            except KeyboardInterrupt:
                pass
        else:
            console.print(f"Server stopped. Serve again with: headway serve --project {directory}")


def _rows(frame: pd.DataFrame) -> list[list[Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_numpy().tolist()
