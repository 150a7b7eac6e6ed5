"""Small distribution plots of a column, as base64 PNG for a data URI.

Drawn with matplotlib's object API (``Figure`` and ``FigureCanvasAgg``, no global backend
switch, no pyplot state), so plotting is safe in any process and thread.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from headway.reports._format import clip

__all__ = ["plot_datetime", "plot_numeric", "plot_top", "png"]

_COLOR = "#3e7cb1"  # the bar colour of the stylesheet (templates/style.css)


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(3.2, 1.4), dpi=80)
    return fig, fig.add_subplot()


def png(fig: Figure) -> str:
    """``fig`` (one subplot) as a base64 PNG, small ticks and no top or right spine."""
    ax = fig.axes[0]
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plot_numeric(values: pd.Series) -> str | None:
    """A 30-bin histogram of the finite values; ``None`` when there are none."""
    finite = values.to_numpy(dtype=float, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    counts, edges = np.histogram(finite, bins=30)
    fig, ax = _figure()
    ax.stairs(counts, edges, fill=True, color=_COLOR)
    fig.subplots_adjust(left=0.16, right=0.97, top=0.95, bottom=0.2)
    return png(fig)


def plot_datetime(values: pd.Series) -> str | None:
    """Rows per day, month or year (by the span); ``None`` when every value is missing."""
    values = values.dropna()
    if values.empty:
        return None
    if values.dt.tz is not None:  # periods are naive: count in UTC
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    span = values.max() - values.min()
    freq = "D" if span <= pd.Timedelta(days=92) else "M" if span <= pd.Timedelta(days=3653) else "Y"
    periods = values.dt.to_period(freq)
    counts = periods.value_counts().reindex(
        pd.period_range(periods.min(), periods.max(), freq=freq), fill_value=0
    )
    fig, ax = _figure()
    ax.bar(range(len(counts)), counts.to_numpy(), color=_COLOR, width=0.9)
    ends = sorted({0, len(counts) - 1})
    ax.set_xticks(ends, [str(counts.index[i]) for i in ends])
    fig.subplots_adjust(left=0.16, right=0.95, top=0.95, bottom=0.2)
    return png(fig)


def plot_top(top: list[tuple[str, int]]) -> str | None:
    """Horizontal bars of the most frequent values, the most frequent on top; ``None`` when
    there are no values or every value occurs once (an id: nothing to see)."""
    if not top or top[0][1] == 1:
        return None
    labels = [clip(label, 16) for label, _ in reversed(top)]
    fig, ax = _figure()
    ax.barh(range(len(labels)), [count for _, count in reversed(top)], color=_COLOR)
    # parse_math=False: a value such as "$x$" is data, not a formula to typeset.
    ax.set_yticks(range(len(labels)), labels, parse_math=False)
    fig.subplots_adjust(left=0.36, right=0.97, top=0.97, bottom=0.15)
    return png(fig)
