"""The pipeline: the stages composed. ``headway run`` (ingest -> validate -> train ->
evaluate -> gate -> register -> promote), ``headway gate --candidate`` (re-gate a registered
version on today's data) and ``headway reproduce`` (retrain a version from its lineage).

Stage packages never import this one; it sits above them and below automation and the CLI.
The notebook entry point ``headway.run(dir)`` lives in :mod:`headway.pipeline.api` (not
re-exported here, where ``run`` names the module of ``run_pipeline``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from headway._lazy import lazy_exports

if TYPE_CHECKING:
    from headway.pipeline.approve import approve_version
    from headway.pipeline.init import init_project
    from headway.pipeline.regate import gate_version
    from headway.pipeline.reproduce import ReproductionReport, reproduce
    from headway.pipeline.run import NullObserver, PipelineObserver, run_pipeline

__all__ = [
    "NullObserver",
    "PipelineObserver",
    "ReproductionReport",
    "approve_version",
    "gate_version",
    "init_project",
    "reproduce",
    "run_pipeline",
]

# A command imports only the step it runs: ``headway init`` need not load MLflow.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "NullObserver": ".run",
        "PipelineObserver": ".run",
        "ReproductionReport": ".reproduce",
        "approve_version": ".approve",
        "gate_version": ".regate",
        "init_project": ".init",
        "reproduce": ".reproduce",
        "run_pipeline": ".run",
    },
)
