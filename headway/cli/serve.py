"""``headway serve``: the prediction server for a project's champion."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headway.cli._common import ProjectOption, console
from headway.project import Project
from headway.registry import CHAMPION

if TYPE_CHECKING:
    from headway.serving import ServingSettings


def serving_settings(project: Project, model_uri: str | None) -> ServingSettings:
    from headway.serving import ServingSettings

    return ServingSettings(
        model_uri=model_uri or f"models:/{project.config.model_name}@{CHAMPION}",
        tracking_uri=project.tracking_uri,
        registry_uri=project.registry_uri,
    )


def serve(
    project: ProjectOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Bind address (default: serving.host).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default: serving.port).")
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="models:/NAME@ALIAS or models:/NAME/VERSION.")
    ] = None,
) -> None:
    """Serve the champion over HTTP (MLflow /invocations protocol, health, metrics)."""
    import uvicorn

    from headway.serving import create_app

    loaded = Project.load(project)
    settings = serving_settings(loaded, model_uri)
    app = create_app(settings)
    bind_host = host or loaded.config.serving.host
    bind_port = loaded.config.serving.port if port is None else port
    served = app.state.model
    console.print(
        f"Serving [bold]{served.name} v{served.version}[/bold] ({settings.model_uri}) at "
        f"http://{bind_host}:{bind_port}  — POST /invocations, GET /health/ready, GET /metrics"
    )
    uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", access_log=False)
