"""``headway monitor``: cut the prediction log into windows and test each one.

Each window's rows (shadow rows aside) are tested against the reference of the version
that answered most of them (:func:`headway.pipeline.references.load_reference`, built on
demand for a version registered without one); the report is stored in the control plane
(:class:`headway.controlplane.MonitoringStore`) and returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from headway.config.monitoring import parse_window
from headway.controlplane import MonitoringStore
from headway.monitoring.monitor import WindowReport, evaluate_window, view_drift
from headway.monitoring.reference import Reference
from headway.pipeline.references import load_reference
from headway.predictions import open_prediction_log
from headway.project import Project
from headway.registry import ModelRegistry
from headway.reports.monitoring import render_monitoring_html

__all__ = ["MonitorRun", "monitor_project", "reports_dir", "split_windows"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MonitorRun:
    """What one ``headway monitor`` pass did: its windows and their pages (one HTML page
    per tested window, when stored)."""

    model: str
    since: datetime | None
    until: datetime
    windows: list[WindowReport]
    pages: list[Path] = field(default_factory=list)


def reports_dir(project: Project) -> Path:
    """Where the monitoring pages go: ``DIR/.headway/reports/monitoring``."""
    return project.state_dir / "reports" / "monitoring"


def _page(project: Project, report: WindowReport, history: list[dict[str, object]]) -> Path:
    """Write the window's page (and ``latest.html``, a copy of the newest) and return it."""
    folder = reports_dir(project)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{report.model_name}-v{report.model_version}-{report.start:%Y%m%dT%H%M%S}.html"
    html = render_monitoring_html(
        report.to_dict(), history, title=f"{project.config.name}: monitoring"
    )
    path = folder / name
    for target in (path, folder / "latest.html"):
        partial = target.with_suffix(".tmp")
        partial.write_text(html, encoding="utf-8")
        partial.replace(target)  # readers never see half a page
    return path


def _explainer(project: Project, name: str, version: str) -> object | None:
    """The version's SHAP explainer, or ``None`` (no shap, or a model it cannot explain)."""
    from headway.evaluation.explain import Explainer
    from headway.exceptions import ConfigError

    registry = ModelRegistry(project.tracking_uri, project.registry_uri)
    try:
        return Explainer(registry.load_estimator(f"models:/{name}/{version}"))
    except (ConfigError, ValueError) as exc:
        logger.info("no attribution drift for %s/%s: %s", name, version, exc)
        return None


def _feature_views(project: Project) -> dict[str, list[str]]:
    """Feature view -> its features in the model's feature service (on-demand features as
    the group ``on_demand``); empty when the project trains on no service."""
    from headway.features.definitions import load_definitions

    cfg = project.config
    if cfg.features.service is None:
        return {}
    definitions = load_definitions(project.root / cfg.features.definitions)
    views = {
        view.name: list(features) for view, features in definitions.resolve(cfg.features.service)
    }
    on_demand = [f.name for f in definitions.on_demand(cfg.features.service)]
    if on_demand:
        views["on_demand"] = on_demand
    return views


def split_windows(
    times: pd.Series, since: datetime, until: datetime, window: timedelta | int | None
) -> list[tuple[datetime, datetime, pd.Index]]:
    """The windows of a period: ``(start, end, row labels)`` per window.

    A duration cuts ``[since, until)`` into consecutive spans (the last may be shorter);
    a row count cuts the rows, oldest first, into runs of that many (the last may hold
    fewer), each window spanning its first row's time to just after its last; ``None``
    gives one window.
    """
    if window is None:
        return [(since, until, times.index)]
    if isinstance(window, timedelta):
        out = []
        start = since
        while start < until:
            end = min(start + window, until)
            mask = (times >= start) & (times < end)
            out.append((start, end, times.index[mask.to_numpy()]))
            start = end
        return out
    ordered = times.sort_values(kind="stable")
    out = []
    for first in range(0, len(ordered), window):
        chunk = ordered.iloc[first : first + window]
        start = chunk.iloc[0].to_pydatetime()
        end = chunk.iloc[-1].to_pydatetime() + timedelta(microseconds=1)
        out.append((start, end, chunk.index))
    return out


def monitor_project(
    project: Project,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    window: str | None = None,
    store: bool = True,
    on_window: Callable[[WindowReport], None] | None = None,
) -> MonitorRun:
    """Test the windows of ``[since, until)`` of the project model's predictions.

    Args:
        project: the project.
        since: the first time included; ``None``: the oldest prediction.
        until: the first time excluded; ``None``: now.
        window: ``1h``-like duration or ``10000rows``; ``None``: ``monitoring.window``,
            else one window for the whole period.
        store: keep each window's report in the control plane.
        on_window: called with each report as it is ready (progress).

    Raises:
        ValueError: a malformed window.
        ConfigError: the prediction log or control plane cannot be opened.
    """
    cfg = project.config
    until = until or datetime.now(UTC)
    views = _feature_views(project)
    spec = window or cfg.monitoring.window
    size = parse_window(spec) if spec else None
    with open_prediction_log(
        project.predictions_url, project.predictions_dir, fsync=cfg.predictions.fsync
    ) as log:
        rows = log.joined(since, until)
    rows = rows[rows["model_name"] == cfg.model_name].reset_index(drop=True)
    start = since
    if start is None:
        start = rows["timestamp"].min().to_pydatetime() if len(rows) else until
    references: dict[str, Reference] = {}
    explainers: dict[str, object | None] = {}
    reports: list[WindowReport] = []
    pages: list[Path] = []
    results = MonitoringStore.for_project(project) if store else None
    history: list[dict[str, object]] = []
    if results is not None:
        history = [w.report for w in results.windows(cfg.model_name, limit=50)]
    try:
        for begin, end, index in split_windows(rows["timestamp"], start, until, size):
            part = rows.loc[index]
            served = part[part["route"] != "shadow"]
            version = (
                str(served["model_version"].astype(str).mode().iloc[0]) if len(served) else None
            )
            if version is None:
                report = WindowReport(
                    model_name=cfg.model_name,
                    model_version="-",
                    start=begin,
                    end=end,
                    rows=0,
                    status="empty",
                    notes=["no predictions in the window"],
                )
            else:
                if version not in references:
                    references[version] = load_reference(project, cfg.model_name, version)
                    explainers[version] = _explainer(project, cfg.model_name, version)
                report = evaluate_window(
                    part,
                    references[version],
                    model_name=cfg.model_name,
                    model_version=version,
                    start=begin,
                    end=end,
                    config=cfg.monitoring,
                    metric=cfg.metric,
                    slice_columns=cfg.evaluation.slice_columns,
                    business_values={str(k): v for k, v in cfg.evaluation.business_values.items()},
                    explainer=explainers[version],
                    seed=cfg.seed,
                )
            if views and report.status == "ok":
                report = replace(
                    report,
                    feature_views=view_drift(
                        report.columns, views, share=cfg.monitoring.drift_share
                    ),
                )
            if results is not None and report.status != "empty":
                results.save(report.to_dict())
                pages.append(_page(project, report, history))
                history.append(report.to_dict())
            reports.append(report)
            if on_window is not None:
                on_window(report)
    finally:
        if results is not None:
            results.close()
    return MonitorRun(model=cfg.model_name, since=since, until=until, windows=reports, pages=pages)
