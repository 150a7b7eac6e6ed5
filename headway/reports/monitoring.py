"""A window of ``headway monitor`` as a self-contained HTML page with plots.

What a person reads at a glance: the alarms; a distribution overlay (reference against
window) for each drifted column, or the columns closest to their threshold when none
drifted; each column's drift score (statistic over threshold, so 1 is the line) over the
stored windows; realised and estimated performance over the windows with their 95%
intervals and the version's evaluated metric. The page takes the window report as a plain
dict (:meth:`headway.monitoring.monitor.WindowReport.to_dict`) and the earlier stored
reports of the same model for the plots over time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from headway.reports._env import environment
from headway.reports._format import clip
from headway.reports._plots import png

__all__ = ["render_monitoring_html"]

_REFERENCE = "#9fb3c8"
_WINDOW = "#3e7cb1"
_ALARM = "#d64545"
_ESTIMATE = "#f0b429"
_OVERLAYS = 8  # columns shown as overlays at most
_TRENDS = 6  # columns in the drift-over-time plot


def _ratio(column: dict[str, Any]) -> float:
    """How far a column is from its threshold: 1 at the line, above 1 drifted."""
    p, threshold, statistic = (
        column.get("p_value"),
        column.get("threshold"),
        column.get("statistic"),
    )
    if p is not None and threshold:
        return float(-math.log10(max(p, 1e-300)) / -math.log10(threshold))
    if statistic is None or not threshold:
        return float("nan")
    return float(statistic / threshold)


def _overlay(column: dict[str, Any]) -> str | None:
    hist = column.get("histogram") or {}
    bins = hist.get("bins") or []
    if not bins:
        return None
    fig = Figure(figsize=(4.2, 2.0), dpi=80)
    ax = fig.add_subplot()
    x = np.arange(len(bins))
    ax.bar(x - 0.2, hist["reference"], width=0.4, color=_REFERENCE, label="reference")
    ax.bar(x + 0.2, hist["current"], width=0.4, color=_WINDOW, label="window")
    ax.set_xticks(x, [clip(str(b), 14) for b in bins], rotation=45, ha="right", parse_math=False)
    ax.set_ylabel("share", fontsize=7)
    ax.legend(fontsize=6, frameon=False)
    fig.subplots_adjust(left=0.14, right=0.98, top=0.95, bottom=0.42)
    return png(fig)


def _when(report: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(report["window"]["end"])


def _drift_trend(history: Sequence[dict[str, Any]], columns: Sequence[str]) -> str | None:
    if len(history) < 2 or not columns:
        return None
    fig = Figure(figsize=(6.4, 2.2), dpi=80)
    ax = fig.add_subplot()
    times: Any = [_when(r) for r in history]  # matplotlib plots datetimes
    for name in columns:
        values = []
        for r in history:
            found = next((c for c in r.get("columns", []) if c["column"] == name), None)
            values.append(_ratio(found) if found else float("nan"))
        ax.plot(times, values, marker="o", markersize=3, label=clip(name, 20))
    ax.axhline(1.0, color=_ALARM, linewidth=1, linestyle="--")
    ax.set_ylabel("score / threshold", fontsize=7)
    ax.legend(fontsize=6, frameon=False, ncols=3)
    fig.autofmt_xdate()
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.28)
    return png(fig)


def _performance_trend(history: Sequence[dict[str, Any]]) -> str | None:
    points = [r for r in history if (r.get("performance") or {}).get("metric")]
    if not points:
        return None
    fig = Figure(figsize=(6.4, 2.2), dpi=80)
    ax = fig.add_subplot()
    times: Any = [_when(r) for r in points]
    for kind, color in (("realised", _WINDOW), ("estimated", _ESTIMATE)):
        value, low, high = [], [], []
        for r in points:
            perf = (r["performance"].get(kind) or {}) if r.get("performance") else {}
            interval = perf.get("interval") or [None, None]
            value.append(np.nan if perf.get("value") is None else perf["value"])
            low.append(np.nan if interval[0] is None else interval[0])
            high.append(np.nan if interval[1] is None else interval[1])
        if np.all(np.isnan(value)):
            continue
        ax.plot(times, value, marker="o", markersize=3, color=color, label=kind)
        ax.fill_between(times, low, high, color=color, alpha=0.2, linewidth=0)
    evaluated = points[-1]["performance"].get("evaluated")
    if evaluated is not None:
        ax.axhline(evaluated, color="#52606d", linewidth=1, linestyle=":", label="at evaluation")
    ax.set_ylabel(str(points[-1]["performance"]["metric"]), fontsize=7)
    ax.legend(fontsize=6, frameon=False, ncols=3)
    fig.autofmt_xdate()
    fig.subplots_adjust(left=0.1, right=0.98, top=0.95, bottom=0.28)
    return png(fig)


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.{digits}g}"
    return str(value)


def _nulls(column: dict[str, Any]) -> str:
    now, before = column.get("null_rate") or 0.0, column.get("reference_null_rate") or 0.0
    return f"{100 * now:.1f}% ({100 * before:.1f}%)"


def _performance_line(perf: dict[str, Any] | None) -> str:
    if not perf:
        return "not available"
    if perf.get("value") is None:
        return perf.get("note") or f"{perf.get('rows', 0)} rows: no value"
    text = f"{perf['metric']} {perf['value']:.4f}"
    if perf.get("interval"):
        low, high = perf["interval"]
        text += f" (95% interval {low:.4f} to {high:.4f})"
    text += f", {perf.get('rows', 0):,} rows"
    if perf.get("dropped"):
        text += ": below the evaluated metric beyond the margin"
    return text


def render_monitoring_html(
    report: dict[str, Any], history: Sequence[dict[str, Any]] = (), *, title: str
) -> str:
    """Render one window as a self-contained page (inline CSS and PNGs, no scripts).

    Args:
        report: the window's report (:meth:`WindowReport.to_dict`).
        history: earlier reports of the same model, any order; the plots over time use
            them with ``report`` (at most the last 50 windows).
        title: the page heading.
    """
    columns = report.get("columns", [])
    drifted = [c for c in columns if c.get("drifted")]
    closest = sorted(columns, key=lambda c: -np.nan_to_num(_ratio(c), nan=-1.0))
    shown = (drifted or closest)[:_OVERLAYS]
    overlays = [
        {"column": c["column"], "method": c["method"], "drifted": bool(c.get("drifted")),
         "image": _overlay(c)}
        for c in shown
    ]  # fmt: skip
    timeline = sorted([*history, report], key=_when)[-50:]
    trend_columns = [c["column"] for c in (drifted or closest)[:_TRENDS]]
    perf = report.get("performance") or {}
    estimated = perf.get("estimated") or {}
    window = report["window"]
    meta = [
        f"{report['model']['name']} version {report['model']['version']}",
        f"{window['start']} to {window['end']}",
        f"{window['rows']:,} predictions",
    ]
    rows = [
        {
            "kind": "bad" if c.get("drifted") else "ok",
            "cells": [
                c["column"], c["method"], _number(c.get("statistic")), _number(c.get("threshold")),
                _number(c.get("p_value"), 2), "drifted" if c.get("drifted") else "no",
                c.get("direction") or "-",
                _nulls(c),
            ],
        }
        for c in columns
    ]  # fmt: skip
    return (
        environment()
        .get_template("monitoring_report.html.j2")
        .render(
            title=title,
            meta=meta,
            status=report.get("status", "ok"),
            alarms=report.get("alarms", []),
            notes=report.get("notes", []),
            rows=rows,
            dataset=report.get("dataset_drift") or {},
            prediction=report.get("prediction_drift"),
            multivariate=report.get("multivariate"),
            schema=report.get("schema") or {},
            overlays=overlays,
            drift_trend=_drift_trend(timeline, trend_columns),
            performance_trend=_performance_trend(timeline),
            realised=_performance_line(perf.get("realised")),
            estimated=_performance_line(estimated or None),
            assumptions=estimated.get("assumptions", []),
            evaluated=perf.get("evaluated"),
            slices=perf.get("slices", []),
            value=report.get("business_value") or {},
            attribution=report.get("attribution"),
            feature_views=report.get("feature_views") or [],
        )
    )
