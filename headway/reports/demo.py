"""``headway demo``'s page: the timeline of the closed loop, a plot and the delivery metrics.

The page takes plain values: the timeline (``{"at", "event", "model", "version", "detail"}``
dicts), the delivery metrics (:meth:`DeliveryMetrics.as_dict`) and the labelled answers
(time, 1/0 correct, version) for the rolling-accuracy plot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from headway.reports._env import environment
from headway.reports._plots import png

__all__ = ["render_demo_html"]

_COLORS = ["#3e7cb1", "#2f9e44", "#f0b429", "#d64545", "#7048e8"]
_MARKED = {"drift_detected", "promoted", "rolled_back", "retrain_triggered"}


def _plot(
    answers: Sequence[tuple[datetime, float, str]], timeline: Sequence[dict[str, Any]]
) -> str | None:
    if len(answers) < 20:
        return None
    fig = Figure(figsize=(9.0, 2.8), dpi=90)
    ax = fig.add_subplot()
    times = np.asarray([a[0].timestamp() for a in answers])
    start = times.min()
    window = max(10, len(answers) // 40)
    for i, version in enumerate(sorted({a[2] for a in answers}, key=_version_key)):
        mask = np.asarray([a[2] == version for a in answers])
        values = np.asarray([a[1] for a in answers])[mask]
        if len(values) < window:
            continue
        rolling = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(
            (times[mask][window - 1 :] - start),
            rolling,
            color=_COLORS[i % len(_COLORS)],
            label=f"v{version}",
            linewidth=1.4,
        )
    for event in timeline:
        if event["event"] in _MARKED:
            at = datetime.fromisoformat(event["at"]).timestamp() - start
            ax.axvline(at, color="#888888", linewidth=0.7, linestyle="--")
            ax.text(
                at,
                1.0,
                event["event"].replace("_", " "),
                rotation=90,
                fontsize=6,
                va="top",
                ha="right",
                color="#555555",
            )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("seconds into the demo", fontsize=7)
    ax.set_ylabel("rolling accuracy", fontsize=7)
    ax.legend(fontsize=7, loc="lower left")
    fig.subplots_adjust(left=0.07, right=0.99, top=0.95, bottom=0.17)
    return png(fig)


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (10**9, version)


def _value(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if key.endswith("_seconds") else f"{value:.4g}"
    return str(value)


def render_demo_html(
    *,
    title: str,
    timeline: Sequence[dict[str, Any]],
    metrics: dict[str, Any],
    answers: Sequence[tuple[datetime, float, str]],
    meta: Sequence[str] = (),
) -> str:
    """The demo's self-contained page (inline CSS and PNG, no scripts)."""
    shown = [(k, _value(k, v)) for k, v in metrics.items() if not isinstance(v, dict)]
    shown += [
        (f"{k}.{inner}", _value(inner, v))
        for k, d in metrics.items()
        if isinstance(d, dict)
        for inner, v in d.items()
    ]
    return (
        environment()
        .get_template("demo_report.html.j2")
        .render(
            title=title,
            meta=list(meta),
            timeline=list(timeline),
            metrics=shown,
            plot=_plot(answers, timeline),
        )
    )
