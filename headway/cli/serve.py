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

    cfg = project.config
    logged = cfg.predictions.enabled
    return ServingSettings(
        model_uri=model_uri or f"models:/{cfg.model_name}@{CHAMPION}",
        tracking_uri=project.tracking_uri,
        registry_uri=project.registry_uri,
        log_url=project.predictions_url if logged else None,
        log_dir=str(project.predictions_dir) if logged else None,
        log_fsync=cfg.predictions.fsync,
        compact_seconds=_seconds(cfg.predictions.compact_every),
        batching=cfg.serving.batching,
        max_batch_rows=cfg.serving.max_batch_rows,
        max_wait_ms=cfg.serving.max_wait_ms,
        control_db_url=project.control_db_url,
        timeout_ms=cfg.serving.timeout_ms,
        api_tokens=_api_tokens(project),
        protect_metrics=cfg.serving.protect_metrics,
        promotion=cfg.governance.promotion,
        features_definitions=(
            str(project.root / cfg.features.definitions) if cfg.features.service else None
        ),
        feature_service=cfg.features.service,
        online_store_url=cfg.features.online_store,
        online_store_path=str(project.state_dir / "online.db"),
    )


def _seconds(text: str | None) -> float | None:
    from headway.config.monitoring import duration

    return None if text is None else duration(text, "compact_every").total_seconds()


def _api_tokens(project: Project) -> dict[str, str] | None:
    """``HEADWAY_API_TOKENS`` and ``serving.token_file`` (relative to the project), merged;
    ``None``: neither gives a token (the server asks for none)."""
    from headway.serving.auth import merge_tokens, parse_api_tokens, read_token_file

    text = project.settings.api_tokens
    from_env = parse_api_tokens(text) if text else None
    token_file = project.config.serving.token_file
    from_file = (
        read_token_file(project.root / Path(token_file).expanduser()) if token_file else None
    )
    return merge_tokens(from_env, from_file)


def serve(
    project: ProjectOption = Path("."),
    host: Annotated[str | None, typer.Option(help="Bind address (default: serving.host).")] = None,
    port: Annotated[
        int | None, typer.Option(min=0, max=65535, help="Port (default: serving.port).")
    ] = None,
    model_uri: Annotated[
        str | None, typer.Option(help="models:/NAME@ALIAS or models:/NAME/VERSION.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=256, help="Worker processes (default: serving.workers, one per core)."
        ),
    ] = None,
) -> None:
    """Serve the champion over HTTP (MLflow /invocations protocol, health, metrics)."""
    import asyncio
    import os
    import tempfile

    import uvicorn

    from headway.serving import create_app
    from headway.serving.app import SETTINGS_ENV
    from headway.serving.metrics import MULTIPROC_ENV

    loaded = Project.load(project)
    settings = serving_settings(loaded, model_uri)
    configured = workers or loaded.config.serving.workers
    count = (
        (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        if configured == "auto"
        else int(configured)
    )
    # Loaded here first, in every case: a bad URI or log fails before anything listens.
    app = create_app(settings)
    bind_host = host or loaded.config.serving.host
    bind_port = loaded.config.serving.port if port is None else port
    served = app.state.serving.model
    console.print(
        f"Serving [bold]{served.name} v{served.version}[/bold] ({settings.model_uri}) at "
        f"http://{bind_host}:{bind_port} with {count} worker(s) — POST /invocations, "
        "GET /health/ready, GET /metrics"
    )
    if count == 1:
        uvicorn.run(app, host=bind_host, port=bind_port, log_level="warning", access_log=False)
        return
    asyncio.run(app.state.serving.close())  # the workers open their own
    with tempfile.TemporaryDirectory(prefix="headway-metrics-") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir
        os.environ[SETTINGS_ENV] = settings.model_dump_json()
        uvicorn.run(
            "headway.serving.app:app_from_environment",
            factory=True,
            workers=count,
            host=bind_host,
            port=bind_port,
            log_level="warning",
            access_log=False,
        )
