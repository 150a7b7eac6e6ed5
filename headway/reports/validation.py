"""A readable, self-contained HTML page of a validation: verdict, checks, one card per column.

Plots are small PNGs (see ``_plots``) embedded as data URIs, so the page works offline and
as a single MLflow artifact. Summaries use every row; histograms and datetime plots use a
seeded sample, which keeps a 1M-row table to a few seconds. The page is laid out by the
template ``validation_report.html.j2`` on the shared base layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.data.schema import DataSchema
from headway.reports._env import environment
from headway.reports._format import clip, plural
from headway.reports._plots import plot_datetime, plot_numeric, plot_top

__all__ = ["render_validation_html"]

_PLOT_SAMPLE = 50_000  # rows drawn (seeded) for histograms and datetime plots
_TOP_SHOWN = 5  # most frequent values listed in a card
_TOP_PLOTTED = 10  # bars in a categorical plot
_MAX_TEXT = 60  # characters of an example shown before "…"
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class _Column:
    """A column's card: ``schema_tag`` is ``dtype · role``, or ``None`` when the schema does
    not have the column; ``image`` a base64 PNG, or ``None`` when there is nothing to plot."""

    name: str
    schema_tag: str | None
    summary: Sequence[tuple[str, str]]
    image: str | None


@dataclass(frozen=True)
class _Check:
    """A check's row: ``kind`` is ``pass``, ``error`` or ``warn``."""

    kind: str
    outcome: str
    severity: str
    name: str
    column: str
    message: str
    failed: str
    examples: Sequence[str]


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
        rows += [(f"top: {clip(v, 30)}", f"{c:,}") for v, c in top[:_TOP_SHOWN]]
    return rows, top


def _column(name: str, series: pd.Series, sample: pd.Series, schema: DataSchema) -> _Column:
    kind = _kind(series)
    summary, top = _summarize(series, kind)
    if kind == "numeric":
        image = plot_numeric(sample)
    elif kind == "datetime":
        image = plot_datetime(sample)
    else:
        image = plot_top(top)
    column = schema.columns.get(name)
    tag = (
        f"{clip(column.dtype, _MAX_TEXT)} · {clip(column.role, _MAX_TEXT)}"
        if column is not None
        else None
    )
    return _Column(name, tag, summary, image)


def _check(check: CheckResult) -> _Check:
    examples = [clip(e, _MAX_TEXT) for e in check.examples[:_MAX_EXAMPLES]]
    if check.rows and len(check.rows) == len(check.examples):
        shown = [f"row {r}: {e}" for r, e in zip(check.rows, examples, strict=False)]
    else:
        shown = examples
        if check.rows:
            shown.append("rows " + ", ".join(str(r) for r in check.rows[:_MAX_EXAMPLES]))
    return _Check(
        kind="pass" if check.passed else ("error" if check.severity == "error" else "warn"),
        outcome="passed" if check.passed else "failed",
        severity=str(check.severity),
        name=str(check.name),
        column=str(check.column or ""),
        message=str(check.message),
        failed=f"{check.n_failed:,}" if check.n_failed else "",
        examples=shown,
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
    meta = [plural(len(frame), "row"), plural(frame.shape[1], "column")]
    if version is not None:
        meta = [f"dataset {version.short_hash}", *meta, f"created {version.created_at}"]
    elif report.dataset_hash:
        meta = [f"dataset {report.dataset_hash[:12]}", *meta]

    sample = frame
    if len(frame) > _PLOT_SAMPLE:
        rng = np.random.default_rng(0)
        sample = frame.iloc[np.sort(rng.choice(len(frame), _PLOT_SAMPLE, replace=False))]
    # Positional access: a frame may repeat a column name or use non-string names.
    columns = [
        _column(str(name), frame.iloc[:, i], sample.iloc[:, i], schema)
        for i, name in enumerate(frame.columns)
    ]
    present = {str(c) for c in frame.columns}
    return (
        environment()
        .get_template("validation_report.html.j2")
        .render(
            title=str(title),
            passed=report.passed,
            verdict=f"{verdict}: {plural(errors, 'error')}, {plural(warnings, 'warning')}",
            meta=meta,
            checks=[_check(c) for c in report.ordered()],
            columns=columns,
            absent=[name for name in schema.columns if name not in present],
        )
    )
