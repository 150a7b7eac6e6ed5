"""A readable, self-contained HTML page of a validation: verdict, checks, one card per column.

Plots are small PNGs drawn with matplotlib's object API (``Figure`` and ``FigureCanvasAgg``,
no global backend switch, no pyplot state) and embedded as data URIs, so the page works
offline and as a single MLflow artifact. Summaries use every row; histograms and datetime
plots use a seeded sample, which keeps a 1M-row table to a few seconds.
"""

from __future__ import annotations

import base64
import html
import io
import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from pandas.api import types as ptypes

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.data.schema import DataSchema

__all__ = ["render_validation_html"]

_PLOT_SAMPLE = 50_000  # rows drawn (seeded) for histograms and datetime plots
_TOP_SHOWN = 5  # most frequent values listed in a card
_TOP_PLOTTED = 10  # bars in a categorical plot
_MAX_TEXT = 60  # characters of a value or an example shown before "…"
_MAX_EXAMPLES = 5
_COLOR = "#3e7cb1"
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.3rem} .meta{color:#52606d;margin-bottom:1.2rem}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:.3rem;font-weight:600}
.ok{background:#e3f9e5;color:#05400a} .bad{background:#ffe3e3;color:#610404}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere} td.n{text-align:right;white-space:nowrap}
tr.error{background:#ffe3e3} tr.error td:first-child{border-left:4px solid #d64545}
tr.warn{background:#fff3c4} tr.warn td:first-child{border-left:4px solid #f0b429}
tr.pass td:first-child{border-left:4px solid #3ebd93;color:#05400a}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:1rem}
.card{border:1px solid #e4e7eb;border-radius:.4rem;padding:.7rem}
.card h3{margin:.1rem 0 .3rem;font-size:1rem;overflow-wrap:anywhere}
.tag{color:#52606d;font-size:.8rem} .tag.off{color:#8d2b0b;font-weight:600}
.card table{font-size:.8rem;margin:.3rem 0} .card td{padding:.15rem .4rem}
.card img{max-width:100%}
"""


def _esc(value: object, limit: int = _MAX_TEXT) -> str:
    text = str(value)
    return html.escape(text if len(text) <= limit else text[: limit - 1] + "…")


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if 1e-3 <= abs(value) < 1e12:
        return f"{value:,.4f}".rstrip("0").rstrip(".")
    return f"{value:.4g}"


def _kind(series: pd.Series) -> str:
    dtype = series.dtype
    if ptypes.is_datetime64_any_dtype(dtype):
        return "datetime"
    if ptypes.is_bool_dtype(dtype) or ptypes.is_complex_dtype(dtype):
        return "categorical"
    return "numeric" if ptypes.is_numeric_dtype(dtype) else "categorical"


def _top_positions(counts: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` largest counts, by count then first appearance, in O(n)."""
    if len(counts) > k:
        kth = np.partition(counts, len(counts) - k)[len(counts) - k]
        above = np.flatnonzero(counts > kth)
        top = np.concatenate([above, np.flatnonzero(counts == kth)[: k - len(above)]])
    else:
        top = np.arange(len(counts))
    return top[np.lexsort((top, -counts[top]))]


def _summarize(series: pd.Series, kind: str) -> tuple[list[tuple[str, str]], list[tuple[str, int]]]:
    """Vectorised summary of the full column: (label, value) rows and the top value counts."""
    n = len(series)
    top: list[tuple[str, int]] = []
    if kind == "categorical":
        # One factorize gives missing, distinct and the counts of the top values.
        try:
            codes, uniques = pd.factorize(series)
        except TypeError:  # unhashable values such as lists
            codes, uniques = pd.factorize(series.map(str, na_action="ignore"))
        present = codes[codes >= 0]
        missing, distinct = n - len(present), len(uniques)
        counts = np.bincount(present, minlength=distinct)
        top = [(str(uniques[i]), int(counts[i])) for i in _top_positions(counts, _TOP_PLOTTED)]
    else:
        missing, distinct = int(series.isna().sum()), int(series.nunique())
    rows = [
        ("stored as", str(series.dtype)),
        ("missing", f"{missing:,} ({missing / n:.1%})" if n else "0"),
        ("distinct", f"{distinct:,}"),
    ]
    if missing == n:
        return rows, top
    if kind == "numeric":
        values = series.to_numpy(dtype=float, na_value=np.nan)
        values = values[~np.isnan(values)]
        n_inf = int(np.isinf(values).sum())
        if n_inf:
            rows.append(("infinite", f"{n_inf:,}"))
        with np.errstate(invalid="ignore"):  # the mean of +inf and -inf is nan: shown as is
            stats = (values.min(), values.mean(), np.median(values), values.max())
        rows += [
            (k, _number(float(v)))
            for k, v in zip(("min", "mean", "median", "max"), stats, strict=True)
        ]
    elif kind == "datetime":
        rows += [("min", str(series.min())), ("max", str(series.max()))]
    else:
        rows += [(f"top: {_esc(v, 30)}", f"{c:,}") for v, c in top[:_TOP_SHOWN]]
    return rows, top


def _figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(3.2, 1.4), dpi=80)
    return fig, fig.add_subplot()


def _png(fig: Figure) -> str:
    ax = fig.axes[0]  # the one subplot of _figure()
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _plot_numeric(values: pd.Series) -> str | None:
    finite = values.to_numpy(dtype=float, na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    counts, edges = np.histogram(finite, bins=30)
    fig, ax = _figure()
    ax.stairs(counts, edges, fill=True, color=_COLOR)
    fig.subplots_adjust(left=0.16, right=0.97, top=0.95, bottom=0.2)
    return _png(fig)


def _plot_datetime(values: pd.Series) -> str | None:
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
    return _png(fig)


def _plot_top(top: list[tuple[str, int]]) -> str | None:
    if not top or top[0][1] == 1:  # no values, or all distinct (an id): nothing to see
        return None
    labels = [label if len(label) <= 16 else label[:15] + "…" for label, _ in reversed(top)]
    fig, ax = _figure()
    ax.barh(range(len(labels)), [count for _, count in reversed(top)], color=_COLOR)
    # parse_math=False: a value such as "$x$" is data, not a formula to typeset.
    ax.set_yticks(range(len(labels)), labels, parse_math=False)
    fig.subplots_adjust(left=0.36, right=0.97, top=0.97, bottom=0.15)
    return _png(fig)


def _card(name: str, series: pd.Series, sample: pd.Series, schema: DataSchema) -> str:
    kind = _kind(series)
    summary, top = _summarize(series, kind)
    if kind == "numeric":
        image = _plot_numeric(sample)
    elif kind == "datetime":
        image = _plot_datetime(sample)
    else:
        image = _plot_top(top)
    column = schema.columns.get(name)
    tag = (
        f'<div class="tag">{_esc(column.dtype)} · {_esc(column.role)}</div>'
        if column is not None
        else '<div class="tag off">not in schema</div>'
    )
    # Row labels are fixed words or already escaped values; the cells are escaped here.
    rows = "".join(f"<tr><td>{k}</td><td>{html.escape(v)}</td></tr>" for k, v in summary)
    img = (
        f'<img alt="distribution of {html.escape(name)}" src="data:image/png;base64,{image}">'
        if image
        else ""
    )
    return f'<div class="card"><h3>{html.escape(name)}</h3>{tag}<table>{rows}</table>{img}</div>'


def _check_row(check: CheckResult) -> str:
    kind = "pass" if check.passed else ("error" if check.severity == "error" else "warn")
    examples = [_esc(e) for e in check.examples[:_MAX_EXAMPLES]]
    if check.rows and len(check.rows) == len(check.examples):
        shown = [f"row {r}: {e}" for r, e in zip(check.rows, examples, strict=False)]
    else:
        shown = examples
        if check.rows:
            shown.append("rows " + ", ".join(str(r) for r in check.rows[:_MAX_EXAMPLES]))
    cells = [
        "passed" if check.passed else "failed",
        html.escape(check.severity),
        html.escape(check.name),
        html.escape(check.column or ""),
        html.escape(check.message),
    ]
    failed = f"{check.n_failed:,}" if check.n_failed else ""
    return (
        f'<tr class="{kind}">'
        + "".join(f"<td>{c}</td>" for c in cells)
        + f'<td class="n">{failed}</td><td>{"<br>".join(shown)}</td></tr>'
    )


def render_validation_html(
    report: ValidationReport,
    frame: pd.DataFrame,
    schema: DataSchema,
    *,
    title: str,
    version: DatasetVersion | None = None,
) -> str:
    """Render a validation as one self-contained HTML page (inline CSS, no scripts, no URLs).

    Args:
        report: the checks and their outcomes; failures are listed first.
        frame: the validated table; summaries use every row, histograms and datetime plots a
            seeded sample of at most 50,000 rows.
        schema: the schema the table was checked against; gives each column's dtype and role.
            Columns of ``frame`` absent from it are shown as "not in schema".
        title: page heading.
        version: the dataset version (hash, created time), shown in the header when given.

    Returns:
        The HTML document. All text from the report and the data is escaped.

    Example::

        page = render_validation_html(report, frame, schema, title="churn: data")
        Path("validation.html").write_text(page, encoding="utf-8")
    """
    errors, warnings = len(report.failures), len(report.warnings)
    verdict = "passed" if report.passed else "failed"
    counts = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')}"
    meta = [_plural(len(frame), "row"), _plural(frame.shape[1], "column")]
    if version is not None:
        meta = [f"dataset {version.short_hash}", *meta, f"created {version.created_at}"]
    elif report.dataset_hash:
        meta = [f"dataset {report.dataset_hash[:12]}", *meta]

    sample = frame
    if len(frame) > _PLOT_SAMPLE:
        rng = np.random.default_rng(0)
        sample = frame.iloc[np.sort(rng.choice(len(frame), _PLOT_SAMPLE, replace=False))]
    # Positional access: a frame may repeat a column name or use non-string names.
    cards = [
        _card(str(name), frame.iloc[:, i], sample.iloc[:, i], schema)
        for i, name in enumerate(frame.columns)
    ]
    absent = [name for name in schema.columns if name not in {str(c) for c in frame.columns}]
    absent_note = (
        f"<p class='tag off'>In the schema, not in the table: {_esc(', '.join(absent), 500)}</p>"
        if absent
        else ""
    )
    ordered = report.ordered()
    header = "".join(
        f"<th>{h}</th>"
        for h in ("outcome", "severity", "check", "column", "message", "failed", "examples")
    )
    checks = (
        f"<table><thead><tr>{header}</tr></thead><tbody>"
        + "".join(_check_row(c) for c in ordered)
        + "</tbody></table>"
        if ordered
        else "<p>No checks were run.</p>"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='meta'>"
        f"<span class='verdict {'ok' if report.passed else 'bad'}'>{verdict}: {counts}</span> "
        f"{html.escape(' · '.join(meta))}</div>"
        f"<h2>Checks</h2>{checks}<h2>Columns</h2>{absent_note}<div class='cards'>"
        + "".join(cards)
        + "</div></body></html>\n"
    )
