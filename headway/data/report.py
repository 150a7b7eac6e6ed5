"""A readable, self-contained HTML page of a validation: verdict, checks, one card per column.

Plots are small PNGs drawn with matplotlib's object API (no global backend switch) and
embedded as data URIs, so the page works offline and as a single MLflow artifact.
"""

from __future__ import annotations

import base64
import html
import io

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.data.schema import DataSchema

__all__ = ["render_validation_html"]

_PLOT_SAMPLE = 50_000
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2933}
h1{margin-bottom:.2rem} .meta{color:#52606d;margin-bottom:1.2rem}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:.3rem;font-weight:600}
.ok{background:#e3f9e5;color:#05400a} .bad{background:#ffe3e3;color:#610404}
table{border-collapse:collapse;width:100%;margin:1rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e4e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
tr.error td:first-child{border-left:4px solid #d64545}
tr.warn td:first-child{border-left:4px solid #f0b429}
tr.pass td:first-child{border-left:4px solid #3ebd93}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:1rem}
.card{border:1px solid #e4e7eb;border-radius:.4rem;padding:.7rem}
.card h3{margin:.1rem 0 .3rem;font-size:1rem;word-break:break-all}
.card .tag{color:#52606d;font-size:.8rem} .card table{font-size:.8rem;margin:.3rem 0}
.card img{width:100%}
"""


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def _plot(series: pd.Series) -> str | None:
    values = series.dropna()
    if values.empty:
        return None
    fig = Figure(figsize=(3.2, 1.4), dpi=80)
    ax = fig.add_subplot()
    if pd.api.types.is_datetime64_any_dtype(values):
        counts = values.dt.tz_localize(None).dt.to_period("M").value_counts().sort_index()
        ax.bar(range(len(counts)), counts.to_numpy(), color="#3e7cb1", width=0.9)
        ax.set_xticks([0, len(counts) - 1], [str(counts.index[0]), str(counts.index[-1])])
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        ax.hist(values.to_numpy(dtype=float), bins=30, color="#3e7cb1")
    else:
        top = values.astype(str).value_counts().head(10)[::-1]
        ax.barh([label[:18] for label in top.index], top.to_numpy(), color="#3e7cb1")
    ax.tick_params(labelsize=7)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout(pad=0.3)
    return _png(fig)


def _summary_rows(series: pd.Series) -> list[tuple[str, str]]:
    n = len(series)
    missing = int(series.isna().sum())
    rows = [
        ("missing", f"{missing:,} ({missing / n:.1%})" if n else "0"),
        ("distinct", f"{series.nunique():,}"),
    ]
    values = series.dropna()
    if values.empty:
        return rows
    if pd.api.types.is_datetime64_any_dtype(values):
        rows += [("min", str(values.min())), ("max", str(values.max()))]
    elif pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        rows += [
            (name, f"{value:,.4g}")
            for name, value in (
                ("min", numbers.min()),
                ("mean", numbers.mean()),
                ("median", numbers.median()),
                ("max", numbers.max()),
            )
        ]
    else:
        for value, count in values.astype(str).value_counts().head(5).items():
            rows.append((f"top: {str(value)[:30]}", f"{count:,}"))
    return rows


def _check_row(check: CheckResult) -> str:
    kind = "pass" if check.passed else ("error" if check.severity == "error" else "warn")
    examples = ", ".join(f"row {r}: {e}" for r, e in zip(check.rows, check.examples, strict=False))
    cells = [
        "passed" if check.passed else check.severity,
        check.name,
        check.column or "",
        check.message,
        f"{check.n_failed:,}" if check.n_failed else "",
        examples,
    ]
    return f'<tr class="{kind}">' + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"


def render_validation_html(
    report: ValidationReport,
    frame: pd.DataFrame,
    schema: DataSchema,
    *,
    title: str,
    version: DatasetVersion | None = None,
) -> str:
    """Render a validation as one HTML page.

    Args:
        report: the checks and their outcomes.
        frame: the validated table; summaries use every row, plots a seeded sample.
        schema: the schema the table was checked against (dtype and role per column).
        title: page heading.
        version: the dataset version, shown in the header when given.

    Returns:
        A complete HTML document with inline CSS and embedded PNG plots.
    """
    errors, warnings = len(report.failures), len(report.warnings)
    verdict = (
        '<span class="verdict ok">passed</span>'
        if report.passed
        else f'<span class="verdict bad">failed: {errors} error(s)</span>'
    )
    meta = [f"{len(frame):,} rows", f"{frame.shape[1]} columns", f"{warnings} warning(s)"]
    if version is not None:
        meta = [f"dataset version {version.short_hash}", *meta, f"created {version.created_at}"]
    ordered = sorted(report.checks, key=lambda c: (c.passed, c.severity != "error"))
    sample = frame.sample(_PLOT_SAMPLE, random_state=0) if len(frame) > _PLOT_SAMPLE else frame
    cards = []
    for name in frame.columns:
        column = schema.columns.get(str(name))
        tag = f"{column.dtype} · {column.role}" if column else "not in schema"
        rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
            for k, v in _summary_rows(frame[name])
        )
        image = _plot(sample[name])
        alt = html.escape(f"distribution of {name}")
        img = f'<img alt="{alt}" src="data:image/png;base64,{image}">' if image else ""
        cards.append(
            f'<div class="card"><h3>{html.escape(str(name))}</h3>'
            f'<div class="tag">{html.escape(tag)}</div><table>{rows}</table>{img}</div>'
        )
    header = "".join(
        f"<th>{h}</th>" for h in ("outcome", "check", "column", "message", "failed", "first rows")
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class='meta'>{verdict} &nbsp; "
        f"{html.escape(' · '.join(meta))}</div>"
        f"<h2>Checks</h2><table><thead><tr>{header}</tr></thead><tbody>"
        + "".join(_check_row(c) for c in ordered)
        + "</tbody></table><h2>Columns</h2><div class='cards'>"
        + "".join(cards)
        + "</div></body></html>"
    )
