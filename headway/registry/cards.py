"""Model cards: one governance document per model version, as Markdown and as HTML.

A card says what a version is for, what it was trained on, how it did on held-out data
(overall, per slice, per sensitive group), why the gates blessed it or not, who approved
it, what it cannot do, and where every input came from. It is written for three readers
at once: a regulator (limitations, fairness, decisions), a business owner (summary,
business value) and an engineer (training, lineage).

:func:`render_model_card` only renders: the caller assembles the card from the artifacts
(``to_dict`` of :class:`~headway.artifacts.EvaluationReport`,
:class:`~headway.artifacts.Blessing`, ...), the registry and the audit log. Every section
is optional; what is missing reads "not recorded" instead of failing. Both outputs are
deterministic (no render time): the same card gives the same bytes.

The HTML is one self-contained page: inline CSS, the feature importance as an inline SVG,
no scripts and no URLs; all text from the card is escaped. In the Markdown, ``|`` is
escaped in tables and ``<`` everywhere, so that data cannot open an HTML tag.
"""

from __future__ import annotations

import html
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from headway.controlplane import AuditLog
    from headway.registry.mlflow_registry import ModelRegistry

__all__ = ["collect_card", "model_card", "render_model_card"]

NOT_RECORDED = "not recorded"
_DASH = "—"
_TOP_FEATURES = 10
_MAX_COLUMNS_LISTED = 40
_FAIRNESS_LIMIT = 0.1  # a parity or equalized-odds difference above this is a limitation
_CALIBRATION_LIMIT = 0.05  # an expected calibration error above this is a limitation
_SMALL_TEST = 1000  # fewer test rows than this is a limitation
_COLOR = "#3e7cb1"
_TASKS = {
    "binary": "binary classification",
    "multiclass": "multiclass classification",
    "regression": "regression",
    "forecast": "forecasting",
}
# For a Blessing without ``checks``: the wording of headway.gates.bless for a reason that
# failed, and for one that is context only.
_FAILED_REASON = (
    "is below the minimum",
    "is above the maximum",
    "does not beat",
    "worse beyond noise",
    " exceeds ",
    "over the budget",
    "was not measured",
)
_NOTE_REASON = ("no current champion", "cannot score this holdout")
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:62rem;padding:0 1rem;color:#1f2933;line-height:1.45}
h1{margin-bottom:.4rem;overflow-wrap:anywhere} h2{margin-top:2rem;border-bottom:1px solid #cbd2d9}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
nav{font-size:.85rem;color:#52606d} nav a{color:#3e7cb1;margin-right:.6rem}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.3rem;font-weight:600;
font-size:.85rem;margin:0 .3rem .3rem 0}
.ok{background:#e3f9e5;color:#05400a} .bad{background:#ffe3e3;color:#610404}
.warn{background:#fff3c4;color:#5c4813} .info{background:#e4e7eb;color:#323f4b}
p.text{white-space:pre-line}
table{border-collapse:collapse;width:100%;margin:.6rem 0;font-size:.9rem}
th,td{border-bottom:1px solid #e4e7eb;padding:.3rem .5rem;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere} td.n,th.n{text-align:right;white-space:nowrap}
table.facts th{width:14rem;font-weight:600;color:#52606d}
tr.bad{background:#ffe3e3} tr.bad td:first-child{border-left:4px solid #d64545}
tr.warn{background:#fff3c4} tr.warn td:first-child{border-left:4px solid #f0b429}
tr.ok td:first-child{border-left:4px solid #3ebd93}
li.bad{color:#610404} li.ok{color:#05400a}
svg.bars text{font-size:12px;fill:#1f2933}
"""


# ---------------------------------------------------------------- reading the card


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _num(value: Any) -> float | None:
    """``value`` as a float when it is a number or a numeric string (MLflow tags are
    strings); ``None`` otherwise, booleans included."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):  # numpy scalars too
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace(",", ""))
        except ValueError:
            return None
    return None


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    return None


def _text(value: Any, missing: str = NOT_RECORDED) -> str:
    """``value`` as text: containers as JSON, ``missing`` for None and empty values."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value if value.strip() else missing
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, sort_keys=True, default=str) if value else missing
    return str(value)


# ---------------------------------------------------------------- formatting numbers


def _metric(value: Any, missing: str = _DASH) -> str:
    """A metric to 4 decimals (4 significant digits under 0.001), thousands separated."""
    number = _num(value)
    if number is None:
        return missing if value is None else str(value)
    if math.isnan(number):
        return "n/a"
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if number != 0 and (abs(number) < 1e-3 or abs(number) >= 1e15):
        return f"{number:.4g}"
    return f"{number:,.4f}"


def _count(value: Any, missing: str = _DASH) -> str:
    """A count with thousands separators (a non-integer is shown as a metric)."""
    number = _num(value)
    if number is None:
        return missing if value is None else str(value)
    if math.isfinite(number) and number.is_integer():
        return f"{int(number):,}"
    return _metric(number)


def _amount(value: Any, missing: str = _DASH) -> str:
    """A money amount: thousands separated, at most 2 decimals."""
    number = _num(value)
    if number is None or not math.isfinite(number):
        return _metric(value, missing)
    text = f"{number:,.2f}"
    return text[:-3] if text.endswith(".00") else text


def _plain(value: Any, missing: str = _DASH) -> str:
    """A measurement (milliseconds, megabytes): at most 4 decimals, no trailing zeros."""
    text = _metric(value, missing)
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def _param(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _metric(value)
    return _text(value, "")


def _interval(value: Any) -> str:
    bounds = _seq(value)
    if len(bounds) != 2 or _num(bounds[0]) is None or _num(bounds[1]) is None:
        return _DASH
    return f"{_metric(bounds[0])} to {_metric(bounds[1])}"


def _short(digest: Any) -> str:
    text = _text(digest)
    return text[:12] if text != NOT_RECORDED and len(text) > 12 else text


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


# ---------------------------------------------------------------- blocks


def _md(text: str) -> str:
    """Markdown text: ``<`` escaped so that no value opens an HTML tag."""
    return text.replace("<", "\\<")


def _md_cell(text: str) -> str:
    """A Markdown table cell: one line, ``|`` and ``<`` escaped."""
    return _md(" ".join(text.split())).replace("|", "\\|") or " "


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _css_class(mark: str) -> str:
    return f' class="{mark}"' if mark else ""


@dataclass(frozen=True)
class _Text:
    """A paragraph; line breaks are kept."""

    text: str

    def markdown(self) -> str:
        return "\n".join(_md(line) for line in self.text.splitlines())

    def html(self) -> str:
        return f'<p class="text">{_esc(self.text)}</p>'


@dataclass(frozen=True)
class _Heading:
    text: str

    def markdown(self) -> str:
        return f"### {_md(' '.join(self.text.split()))}"

    def html(self) -> str:
        return f"<h3>{_esc(self.text)}</h3>"


@dataclass(frozen=True)
class _Facts:
    """Label and value pairs: a bullet list in Markdown, a two-column table in HTML."""

    rows: list[tuple[str, str]]

    def markdown(self) -> str:
        return "\n".join(f"- **{_md(k)}:** {_md(' '.join(v.split()))}" for k, v in self.rows)

    def html(self) -> str:
        rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in self.rows)
        return f'<table class="facts">{rows}</table>'


@dataclass(frozen=True)
class _Table:
    """A table; ``marks`` gives each row a class (``bad``, ``warn``, ``ok`` or none) and
    ``numeric`` the columns aligned right."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    marks: Sequence[str] = ()
    numeric: frozenset[int] = frozenset()

    def markdown(self) -> str:
        head = "| " + " | ".join(_md_cell(h) for h in self.header) + " |"
        rule = "".join("|---:" if i in self.numeric else "|---" for i in range(len(self.header)))
        body = ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join([head, rule + "|", *body])

    def html(self) -> str:
        def cell(tag: str, i: int, text: str) -> str:
            css = ' class="n"' if i in self.numeric else ""
            return f"<{tag}{css}>{_esc(text)}</{tag}>"

        head = "".join(cell("th", i, h) for i, h in enumerate(self.header))
        body = "".join(
            f"<tr{_css_class(self.marks[r] if r < len(self.marks) else '')}>"
            + "".join(cell("td", i, c) for i, c in enumerate(row))
            + "</tr>"
            for r, row in enumerate(self.rows)
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass(frozen=True)
class _Bullets:
    """A list; each item is (class, text), the class as in :class:`_Table`."""

    items: list[tuple[str, str]]

    def markdown(self) -> str:
        return "\n".join(f"- {_md(' '.join(text.split()))}" for _, text in self.items)

    def html(self) -> str:
        items = "".join(f"<li{_css_class(mark)}>{_esc(text)}</li>" for mark, text in self.items)
        return f"<ul>{items}</ul>"


@dataclass(frozen=True)
class _Bars:
    """Feature importance: a table in Markdown, an inline SVG bar chart in HTML."""

    items: list[tuple[str, float]]
    label: str

    def markdown(self) -> str:
        rows = [(str(i), name, _metric(v)) for i, (name, v) in enumerate(self.items, 1)]
        return _Table(("#", "feature", self.label), rows, numeric=frozenset({0, 2})).markdown()

    def html(self) -> str:
        label_w, bar_w, value_w, row_h = 220, 340, 90, 24
        width, height = label_w + bar_w + value_w, row_h * len(self.items) + 8
        top = max((v for _, v in self.items if math.isfinite(v)), default=0.0)
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="bars" role="img" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            'style="max-width:100%;height:auto" '
            f'aria-label="{_esc(self.label)} by feature, largest first">'
        ]
        for i, (name, value) in enumerate(self.items):
            y = 4 + i * row_h
            w = bar_w * value / top if top > 0 and math.isfinite(value) and value > 0 else 0.0
            shown = name if len(name) <= 30 else name[:29] + "…"
            parts.append(
                f"<g><title>{_esc(name)}: {_esc(_metric(value))}</title>"
                f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_esc(shown)}</text>'
                f'<rect class="bar" x="{label_w}" y="{y + 3}" width="{w:.1f}" '
                f'height="{row_h - 6}" fill="{_COLOR}"/>'
                f'<text x="{label_w + w + 6:.1f}" y="{y + 16}">{_esc(_metric(value))}</text></g>'
            )
        parts.append("</svg>")
        return "".join(parts)


_Block = _Text | _Heading | _Facts | _Table | _Bullets | _Bars


def _not_recorded() -> list[_Block]:
    return [_Text("Not recorded.")]


# ---------------------------------------------------------------- sections


def _primary(card: Mapping[str, Any]) -> tuple[str | None, Any, Any]:
    """The primary metric's name, test value and interval (or validation score)."""
    evaluation, training = _map(card.get("evaluation")), _map(card.get("training"))
    metric = evaluation.get("metric") or training.get("metric")
    if not metric:
        return None, None, None
    metric = str(metric)
    value = _map(evaluation.get("metrics")).get(metric)
    return metric, value, _map(evaluation.get("intervals")).get(metric)


def _blessed(card: Mapping[str, Any]) -> bool | None:
    status = _flag(_map(card.get("status")).get("blessed"))
    return status if status is not None else _flag(_map(card.get("gates")).get("blessed"))


def _approval(card: Mapping[str, Any]) -> str:
    status = _map(card.get("status"))
    approval = status.get("approval")
    if approval:
        return str(approval)
    return "not requested" if status else NOT_RECORDED


def _badges(card: Mapping[str, Any]) -> list[tuple[str, str]]:
    blessed = _blessed(card)
    badges = [
        (
            "info" if blessed is None else "ok" if blessed else "bad",
            "gate not recorded" if blessed is None else "blessed" if blessed else "not blessed",
        )
    ]
    approval = _approval(card)
    tone = {"approved": "ok", "rejected": "bad", "pending": "warn"}.get(approval, "info")
    badges.append((tone, f"approval {approval}"))
    if _flag(_map(card.get("status")).get("archived")):
        badges.append(("warn", "archived"))
    badges += [("info", f"@{alias}") for alias in _seq(card.get("aliases"))]
    return badges


def _summary(card: Mapping[str, Any]) -> list[_Block]:
    evaluation, training = _map(card.get("evaluation")), _map(card.get("training"))
    gates, status = _map(card.get("gates")), _map(card.get("status"))
    task = card.get("task")
    metric, value, interval = _primary(card)
    if metric is None:
        primary = NOT_RECORDED
    elif value is not None:
        direction = evaluation.get("higher_is_better")
        primary = f"{metric} {_metric(value)}"
        details = [f"95% interval {_interval(interval)}"] if _interval(interval) != _DASH else []
        if evaluation.get("n_test") is not None:
            details.append(f"on {_count(evaluation.get('n_test'))} test rows")
        if isinstance(direction, bool):
            details.append("higher is better" if direction else "lower is better")
        primary += f" ({'; '.join(details)})" if details else ""
    elif training.get("valid_score") is not None:
        primary = f"{metric} {_metric(training.get('valid_score'))} on validation (no test score)"
    else:
        primary = f"{metric} ({NOT_RECORDED})"

    blessed = _blessed(card)
    if blessed is None:
        gate = NOT_RECORDED
    elif blessed:
        gate = "blessed: every gate passed"
    else:
        failed = _failures(gates)
        gate = "not blessed" + (f": {failed[0]}" if failed else "")
    champion = gates.get("champion_version")
    if champion is not None and gates.get("champion_value") is not None:
        gate += f" (champion v{champion}: {_metric(gates.get('champion_value'))})"

    approval = _approval(card)
    if status.get("approval_by"):
        approval += f" by {status['approval_by']}"
    if status.get("approval_at"):
        approval += f" at {status['approval_at']}"
    if status.get("approval_reason"):
        approval += f": {status['approval_reason']}"

    tags = _map(card.get("tags"))
    rows = [
        ("Task", _TASKS.get(str(task), str(task)) if task else NOT_RECORDED),
        ("Target", _text(card.get("target"))),
        ("Model family", _text(training.get("family"))),
        ("Primary metric", primary),
        ("Gate", gate),
        ("Approval", approval),
        ("Aliases", ", ".join(str(a) for a in _seq(card.get("aliases"))) or "none"),
        ("Created", _text(card.get("created_at"))),
    ]
    if _flag(status.get("archived")):
        rows.append(("Archived", "yes"))
    value_per_1000 = _map(evaluation.get("business_value")).get("per_1000")
    if value_per_1000 is not None:
        rows.append(("Business value", f"{_amount(value_per_1000)} per 1,000 predictions (test)"))
    if tags:
        rows.append(("Tags", "; ".join(f"{k}={v}" for k, v in sorted(tags.items(), key=str))))
    return [_Facts(rows)]


def _intended_use(card: Mapping[str, Any]) -> list[_Block]:
    description = _text(card.get("description"), "")
    if not description.strip():
        return [_Text("Not recorded: the intended use of this model has not been written.")]
    return [_Text(str(description).strip())]


def _data(card: Mapping[str, Any]) -> list[_Block]:
    data = _map(card.get("data"))
    if not data:
        return _not_recorded()
    columns = [str(c) for c in _seq(data.get("columns"))]
    listed = ", ".join(columns[:_MAX_COLUMNS_LISTED])
    if len(columns) > _MAX_COLUMNS_LISTED:
        listed += f" and {len(columns) - _MAX_COLUMNS_LISTED:,} more"
    period = _seq(data.get("period"))
    rows = [
        ("Dataset version", _short(data.get("dataset_hash"))),
        ("Source", _text(data.get("source_uri"))),
        ("Rows", _count(data.get("n_rows"), NOT_RECORDED)),
        ("Columns", f"{len(columns):,}: {listed}" if columns else NOT_RECORDED),
        ("Schema", _short(data.get("schema_hash"))),
        (
            "Period",
            f"{period[0]} to {period[1]}" if len(period) == 2 and all(period) else NOT_RECORDED,
        ),
    ]
    split = _map(data.get("split"))
    strategy = split.get("strategy")
    explain = {
        "time": "by time: the test rows are the latest",
        "group": "by group: each entity is in one part only",
        "random_stratified": "random, stratified by class",
        "random": "random",
    }
    rows.append(("Split", explain.get(str(strategy), str(strategy)) if strategy else NOT_RECORDED))
    blocks: list[_Block] = [_Facts(rows)]
    parts = [(name, _num(split.get(name))) for name in ("train", "valid", "test")]
    total = sum(n for _, n in parts if n is not None)
    if any(n is not None for _, n in parts):
        table = [
            (
                name,
                _count(n),
                f"{n / total:.0%}" if n is not None and total > 0 else _DASH,
            )
            for name, n in parts
        ]
        blocks.append(_Table(("part", "rows", "share"), table, numeric=frozenset({1, 2})))
    return blocks


def _training(card: Mapping[str, Any]) -> list[_Block]:
    training = _map(card.get("training"))
    if not training:
        return _not_recorded()
    metric = training.get("metric")
    n_trials = _num(training.get("n_trials"))
    search = _count(training.get("n_trials"), NOT_RECORDED)
    if n_trials is not None:
        search = _plural(int(n_trials), "trial")
        extra = [
            f"{_count(training.get(k))} {word}"
            for k, word in (("n_failed", "failed"), ("n_pruned", "pruned"))
            if _num(training.get(k))
        ]
        search += f" ({', '.join(extra)})" if extra else ""
    budget = _map(training.get("budget"))
    limits = []
    if budget.get("trials") is not None:
        limits.append(f"{_count(budget.get('trials'))} trials")
    if budget.get("timeout_seconds") is not None:
        limits.append(f"{_count(budget.get('timeout_seconds'))} seconds")
    rows = [
        ("Model family", _text(training.get("family"))),
        (
            "Validation score",
            f"{metric} {_metric(training.get('valid_score'), NOT_RECORDED)}"
            if metric
            else NOT_RECORDED,
        ),
        ("Search", search),
        ("Budget", " or ".join(limits) + ", whichever came first" if limits else NOT_RECORDED),
    ]
    if training.get("executor") is not None:
        workers = _num(training.get("n_workers"))
        rows.append(
            (
                "Executor",
                f"{training['executor']}"
                + (f", {_plural(int(workers), 'worker')}" if workers is not None else ""),
            )
        )
    if "threshold" in training:
        threshold = training.get("threshold")
        rows.append(("Decision threshold", "none" if threshold is None else _metric(threshold)))
    if "calibration" in training:
        rows.append(("Calibration", _text(training.get("calibration"), "none")))
    if training.get("search_params"):
        rows.append(("Search parameters", _text(training.get("search_params"))))
    blocks: list[_Block] = [_Facts(rows)]
    params = _map(training.get("params"))
    blocks.append(_Heading("Hyper-parameters"))
    if params:
        table = [(str(k), _param(v)) for k, v in sorted(params.items(), key=lambda kv: str(kv[0]))]
        blocks.append(_Table(("parameter", "value"), table))
    else:
        blocks.append(_Text("Not recorded."))
    board = _map(training.get("leaderboard"))
    if board:
        higher = _map(card.get("evaluation")).get("higher_is_better")
        items = list(board.items())
        if isinstance(higher, bool):
            items.sort(key=lambda kv: _sort_score(kv[1], higher))
        chosen = training.get("family")
        ranking = [
            (str(f), _metric(v), "chosen" if str(f) == str(chosen) else "") for f, v in items
        ]
        marks = ["ok" if row[2] else "" for row in ranking]
        blocks += [
            _Heading("Model families tried (best validation score of each)"),
            _Table(("family", f"{metric or 'score'}", ""), ranking, marks, frozenset({1})),
        ]
    return blocks


def _sort_score(value: Any, higher: bool) -> float:
    number = _num(value)
    if number is None or math.isnan(number):
        return math.inf
    return -number if higher else number


def _evaluation(card: Mapping[str, Any]) -> list[_Block]:
    evaluation = _map(card.get("evaluation"))
    if not evaluation:
        return _not_recorded()
    metric = evaluation.get("metric")
    metrics = _map(evaluation.get("metrics"))
    intervals = _map(evaluation.get("intervals"))
    direction = evaluation.get("higher_is_better")
    intro = f"Scored on {_count(evaluation.get('n_test'), NOT_RECORDED)} held-out test rows."
    if metric:
        intro += f" Primary metric: {metric}"
        if isinstance(direction, bool):
            intro += f" ({'higher' if direction else 'lower'} is better)"
        intro += "."
    intro += " Intervals are 95% bootstrap intervals."
    blocks: list[_Block] = [_Text(intro)]
    names = sorted(metrics, key=lambda name: str(name) != str(metric))  # primary first
    if names:
        table = [
            (
                f"{name} (primary)" if str(name) == str(metric) else str(name),
                _metric(metrics[name]),
                _interval(intervals.get(name)),
            )
            for name in names
        ]
        blocks.append(_Table(("metric", "value", "95% interval"), table, numeric=frozenset({1})))
    else:
        blocks.append(_Text("Metrics: not recorded."))
    rows = []
    ece = evaluation.get("calibration_error")
    if ece is not None:
        number = _num(ece)
        verdict = (
            ""
            if number is None
            else f" (above {_CALIBRATION_LIMIT}: probabilities are off)"
            if number > _CALIBRATION_LIMIT
            else f" (at most {_CALIBRATION_LIMIT}: well calibrated)"
        )
        rows.append(("Calibration error (ECE)", _metric(ece) + verdict))
    if evaluation.get("latency_p95_ms") is not None:
        rows.append(("Latency, 95th percentile", f"{_plain(evaluation['latency_p95_ms'])} ms"))
    if evaluation.get("size_mb") is not None:
        rows.append(("Model size", f"{_plain(evaluation['size_mb'])} MB"))
    if rows:
        blocks.append(_Facts(rows))
    blocks.append(_Heading("Business value"))
    value = _map(evaluation.get("business_value"))
    if not value:
        blocks.append(_Text("Not recorded."))
        return blocks
    blocks.append(
        _Text(
            f"{_amount(value.get('per_1000'))} per 1,000 predictions; "
            f"{_amount(value.get('total'))} in total over {_count(value.get('n'))} test rows, "
            "at the model's decision threshold."
        )
    )
    counts, values = _map(value.get("counts")), _map(value.get("values"))
    outcomes = list(dict.fromkeys([*counts, *values]))
    if outcomes:
        outcome_rows = []
        for outcome in outcomes:
            n, each = _num(counts.get(outcome)), _num(values.get(outcome))
            subtotal = _amount(n * each) if n is not None and each is not None else _DASH
            outcome_rows.append(
                (
                    str(outcome).replace("_", " "),
                    _count(counts.get(outcome)),
                    _amount(values.get(outcome)),
                    subtotal,
                )
            )
        header = ("outcome", "rows", "value each", "value")
        blocks.append(_Table(header, outcome_rows, numeric=frozenset({1, 2, 3})))
    return blocks


def _slices(card: Mapping[str, Any]) -> list[_Block]:
    evaluation = _map(card.get("evaluation"))
    slices = [_map(s) for s in _seq(evaluation.get("slices"))]
    if not slices:
        return _not_recorded()
    metric = str(evaluation.get("metric") or "")
    ordered = sorted(slices, key=lambda s: not _flag(s.get("flagged")))  # stable: flagged first
    flagged = [s for s in ordered if _flag(s.get("flagged"))]
    columns = list(dict.fromkeys(str(s.get("column")) for s in slices))
    intro = (
        f"{_plural(len(slices), 'slice')} of the test rows, by {', '.join(columns)}; "
        f"{len(flagged):,} flagged: the primary metric is clearly worse there than overall."
    )
    table, marks = [], []
    for s in ordered:
        is_flagged = bool(_flag(s.get("flagged")))
        table.append(
            (
                "flagged" if is_flagged else "",
                _text(s.get("column"), _DASH),
                _text(s.get("value"), _DASH),
                _count(s.get("n")),
                _metric(_map(s.get("metrics")).get(metric)),
                _text(s.get("reason"), ""),
            )
        )
        marks.append("bad" if is_flagged else "")
    header = ("", "column", "value", "rows", metric or "primary metric", "note")
    return [_Text(intro), _Table(header, table, marks, frozenset({3, 4}))]


def _fairness(card: Mapping[str, Any]) -> list[_Block]:
    reports = [_map(r) for r in _seq(_map(card.get("evaluation")).get("fairness"))]
    if not reports:
        return _not_recorded()
    blocks: list[_Block] = [
        _Text(
            "Per sensitive column: the demographic parity difference is the largest gap in "
            "selection rate between two groups, the equalized odds difference the larger of "
            "the gaps in true and false positive rate (0 is parity; above "
            f"{_FAIRNESS_LIMIT} is listed under Limitations)."
        )
    ]
    for report in reports:
        blocks.append(_Heading(f"Sensitive column: {_text(report.get('column'))}"))
        rows = []
        for key, label in (
            ("demographic_parity_difference", "Demographic parity difference"),
            ("equalized_odds_difference", "Equalized odds difference"),
        ):
            number = _num(report.get(key))
            above = number is not None and number > _FAIRNESS_LIMIT
            note = f" (above {_FAIRNESS_LIMIT})" if above else ""
            # fairness_report leaves equalized odds as None where the task has no such rates
            undefined = key == "equalized_odds_difference" and key in report
            missing = "not defined for this task" if undefined else NOT_RECORDED
            rows.append((label, _metric(report.get(key), missing) + note))
        blocks.append(_Facts(rows))
        groups = _map(report.get("by_group"))
        if groups:
            keys = list(dict.fromkeys(k for g in groups.values() for k in _map(g)))
            keys = (["n"] if "n" in keys else []) + [k for k in keys if k != "n"]
            table = [
                (
                    str(group),
                    *(
                        _count(_map(v).get(k)) if k == "n" else _metric(_map(v).get(k))
                        for k in keys
                    ),
                )
                for group, v in groups.items()
            ]
            numeric = frozenset(range(1, len(keys) + 1))
            blocks.append(_Table(("group", *keys), table, numeric=numeric))
    return blocks


def _features(card: Mapping[str, Any]) -> list[_Block]:
    evaluation = _map(card.get("evaluation"))
    importance = _map(evaluation.get("importance"))
    items = [(str(k), n) for k, v in importance.items() if (n := _num(v)) is not None]
    if not items:
        notes = [str(n) for n in _seq(evaluation.get("notes")) if "SHAP" in str(n)]
        return [_Text(" ".join(["Not recorded.", *notes]))]
    items.sort(key=lambda kv: -kv[1] if math.isfinite(kv[1]) else math.inf)
    shown = items[:_TOP_FEATURES]
    intro = (
        "Mean absolute SHAP value on the test rows: how far each input moves the prediction "
        f"on average, largest first. Showing {len(shown):,} of {_plural(len(items), 'feature')}."
    )
    return [_Text(intro), _Bars(shown, "mean |SHAP|")]


def _behaviour(card: Mapping[str, Any]) -> list[_Block]:
    checks = [_map(c) for c in _seq(_map(card.get("evaluation")).get("behaviour"))]
    if not checks:
        return _not_recorded()
    table, marks = [], []
    for check in checks:
        passed = _flag(check.get("passed"))
        table.append(
            (
                _result(passed),
                _text(check.get("name"), _DASH),
                _text(check.get("detail"), ""),
            )
        )
        marks.append(_mark(passed))
    n_failed = sum(1 for m in marks if m == "bad")
    intro = f"{_plural(len(checks), 'check')}, {n_failed:,} failed."
    return [_Text(intro), _Table(("result", "check", "detail"), table, marks)]


def _result(passed: bool | None) -> str:
    return "✓ pass" if passed else "✗ fail" if passed is not None else _DASH


def _mark(passed: bool | None) -> str:
    return "ok" if passed else "bad" if passed is not None else ""


def _reason_mark(reason: str) -> str:
    """``ok``, ``bad`` or ``""`` (context) for a reason worded by headway.gates.bless."""
    if any(phrase in reason for phrase in _FAILED_REASON):
        return "bad"
    if any(phrase in reason for phrase in _NOTE_REASON):
        return ""
    return "ok"


def _failures(gates: Mapping[str, Any]) -> list[str]:
    """What stopped a candidate: the failed checks' details, else the failed reasons."""
    checks = [_map(c) for c in _seq(gates.get("checks"))]
    if checks:
        return [
            _text(c.get("detail"), _text(c.get("name"), "a check"))
            for c in checks
            if _flag(c.get("passed")) is False
        ]
    return [str(r) for r in _seq(gates.get("reasons")) if _reason_mark(str(r)) == "bad"]


def _change(value: Any) -> str | None:
    """A Blessing's ``change`` (estimate, low, high), positive = better, as text."""
    parts = [_num(v) for v in _seq(value)]
    if len(parts) != 3 or any(p is None or not math.isfinite(p) for p in parts):
        return None
    estimate, low, high = (p or 0.0 for p in parts)
    interval = "" if low == high else f" (95% interval {low:+.4f} to {high:+.4f})"
    return f"{estimate:+.4f}{interval}; positive is better"


def _gates(card: Mapping[str, Any]) -> list[_Block]:
    gates = _map(card.get("gates"))
    if not gates:
        return _not_recorded()
    blessed = _flag(gates.get("blessed"))
    champion = gates.get("champion_version")
    verdict = {True: "Blessed.", False: "Not blessed.", None: "Outcome not recorded."}[blessed]
    rows = [
        ("Metric", _text(gates.get("metric"))),
        ("Candidate", _metric(gates.get("candidate_value"), NOT_RECORDED)),
        (
            "Champion",
            f"v{champion}: {_metric(gates.get('champion_value'), 'could not be scored')}"
            if champion is not None
            else "none",
        ),
    ]
    change = _change(gates.get("change"))
    if change is not None:
        rows.append(("Change against the champion", change))
    blocks: list[_Block] = [_Text(verdict), _Facts(rows)]
    checks = [_map(c) for c in _seq(gates.get("checks"))]
    if checks:
        table, marks = [], []
        for check in checks:
            passed = _flag(check.get("passed"))
            table.append(
                (
                    _result(passed),
                    _text(check.get("name"), _DASH),
                    _metric(check.get("value")),
                    _metric(check.get("bound")),
                    _text(check.get("detail"), ""),
                )
            )
            marks.append(_mark(passed))
        header = ("result", "check", "value", "bound", "detail")
        blocks.append(_Table(header, table, marks, frozenset({2, 3})))
    # A Blessing's reasons repeat its checks' details: list only those that add something.
    details = {str(c.get("detail")) for c in checks}
    reasons = [str(r) for r in _seq(gates.get("reasons")) if str(r) not in details]
    if reasons:
        items = []
        for reason in reasons:
            mark = _reason_mark(reason)
            prefix = {"ok": "✓ pass: ", "bad": "✗ fail: "}.get(mark, "note: ")
            items.append((mark, prefix + reason))
        blocks += [_Heading("Reasons"), _Bullets(items)]
    elif not checks:
        blocks.append(_Text("Reasons: not recorded."))
    return blocks


def _approvals(card: Mapping[str, Any]) -> list[_Block]:
    status = _map(card.get("status"))
    rows = [("Approval", _approval(card))]
    for key, label in (("approval_by", "By"), ("approval_at", "At"), ("approval_reason", "Why")):
        if status.get(key):
            rows.append((label, str(status[key])))
    blocks: list[_Block] = [_Facts(rows)]
    events = [_map(e) for e in _seq(card.get("approvals"))]
    if not events:
        blocks.append(_Text("Decisions: not recorded."))
        return blocks
    marks = {"approved": "ok", "rejected": "bad", "not_blessed": "bad", "forced": "warn"}
    table = [
        (
            _text(e.get("at"), _DASH),
            _text(e.get("action"), _DASH),
            _text(e.get("actor"), _DASH),
            _text(e.get("version"), _DASH),
            _text(e.get("reason"), ""),
        )
        for e in events
    ]
    header = ("when", "decision", "by", "version", "reason")
    blocks.append(_Table(header, table, [marks.get(str(e.get("action")), "") for e in events]))
    return blocks


def _derived_limitations(card: Mapping[str, Any]) -> list[str]:
    evaluation = _map(card.get("evaluation"))
    out: list[str] = []
    if not evaluation:
        out.append("No evaluation is recorded: how the model does on held-out data is unknown.")
    for s in (_map(s) for s in _seq(evaluation.get("slices"))):
        if _flag(s.get("flagged")):
            reason = _text(s.get("reason"), "flagged by the slice evaluation")
            out.append(f"Performs worse on {s.get('column')}={s.get('value')}: {reason}.")
    for report in (_map(r) for r in _seq(evaluation.get("fairness"))):
        column = _text(report.get("column"))
        for key, what, name in (
            ("demographic_parity_difference", "Selection rates", "demographic parity"),
            ("equalized_odds_difference", "Error rates", "equalized odds"),
        ):
            number = _num(report.get(key))
            if number is not None and number > _FAIRNESS_LIMIT:
                out.append(
                    f"{what} differ across {column} groups: {name} difference "
                    f"{_metric(number)} (above {_FAIRNESS_LIMIT})."
                )
    ece = _num(evaluation.get("calibration_error"))
    if ece is not None and ece > _CALIBRATION_LIMIT:
        out.append(
            f"Predicted probabilities are miscalibrated: expected calibration error "
            f"{_metric(ece)} (above {_CALIBRATION_LIMIT}); read scores as a ranking, not as "
            "probabilities."
        )
    out += [str(note) for note in _seq(evaluation.get("notes"))]
    n_test = _num(evaluation.get("n_test"))
    if n_test is not None and n_test < _SMALL_TEST:
        out.append(
            f"Evaluated on only {_count(n_test)} test rows (fewer than {_SMALL_TEST:,}): "
            "the metrics are uncertain; read them with their intervals."
        )
    data = _map(card.get("data"))
    period = _seq(data.get("period"))
    if str(_map(data.get("split")).get("strategy")) == "time" and len(period) == 2 and period[1]:
        out.append(
            f"Trained and tested on data from {period[0]} to {period[1]} (time split): it has "
            f"not seen data after {period[1]}; patterns that changed since may not hold."
        )
    return out


def _limitations(card: Mapping[str, Any]) -> list[_Block]:
    stated = [str(x) for x in _seq(card.get("limitations")) if str(x).strip()]
    every = list(dict.fromkeys([*stated, *_derived_limitations(card)]))
    if not every:
        return [_Text("Not recorded: none were stated and none follow from the evaluation.")]
    derived = len(every) - len(stated)
    source = [f"{len(stated):,} stated by the model's owner"] if stated else []
    source += [f"{derived:,} derived from the evaluation and the data"] if derived else []
    return [_Text(" and ".join(source) + "."), _Bullets([("", i) for i in every])]


def _packages(value: Any) -> Mapping[str, Any] | str | None:
    if isinstance(value, str):
        try:
            loaded = json.loads(value)
        except ValueError:
            return value
        return loaded if isinstance(loaded, Mapping) else value
    return value if isinstance(value, Mapping) and value else None


def _lineage(card: Mapping[str, Any]) -> list[_Block]:
    lineage, data = _map(card.get("lineage")), _map(card.get("data"))
    if not lineage and not data:
        return _not_recorded()
    commit = _text(lineage.get("git_commit"))
    dirty = _flag(lineage.get("git_dirty"))
    if commit != NOT_RECORDED and dirty:
        commit += " (with uncommitted changes: the code is not exactly this commit)"
    rows = [
        ("MLflow run", _text(lineage.get("run_id"))),
        ("Model URI", _text(lineage.get("model_uri"))),
        ("Dataset hash", _text(lineage.get("dataset_hash") or data.get("dataset_hash"))),
        ("Schema hash", _text(lineage.get("schema_hash") or data.get("schema_hash"))),
        ("Config hash", _text(lineage.get("config_hash"))),
        ("Git commit", commit),
    ]
    blocks: list[_Block] = [_Facts(rows), _Heading("Packages")]
    packages = _packages(lineage.get("packages"))
    if isinstance(packages, Mapping):
        table = [(str(k), _text(v, _DASH)) for k, v in sorted(packages.items(), key=str)]
        blocks.append(_Table(("package", "version"), table))
    elif isinstance(packages, str) and packages.strip():
        blocks.append(_Text(packages))
    else:
        blocks.append(_Text("Not recorded."))
    return blocks


_SECTIONS = (
    ("summary", "Summary", _summary),
    ("intended-use", "Intended use", _intended_use),
    ("data", "Data", _data),
    ("training", "Training", _training),
    ("evaluation", "Evaluation", _evaluation),
    ("slices", "Slices", _slices),
    ("fairness", "Fairness", _fairness),
    ("top-features", "Top features", _features),
    ("behavioural-checks", "Behavioural checks", _behaviour),
    ("gates", "Gates", _gates),
    ("approvals", "Approvals and decisions", _approvals),
    ("limitations", "Limitations", _limitations),
    ("lineage", "Lineage", _lineage),
)


def _title(card: Mapping[str, Any]) -> str:
    name = _text(card.get("name"), "unnamed model")
    version = card.get("version")
    return f"{name} v{version}" if version not in (None, "") else f"{name} (version not recorded)"


def render_model_card(card: Mapping[str, Any]) -> tuple[str, str]:
    """Render a model card as Markdown and as a self-contained HTML page.

    Sections, in order: the title (name, version and status badges), Summary, Intended
    use, Data, Training, Evaluation, Slices, Fairness, Top features, Behavioural checks,
    Gates, Approvals and decisions, Limitations and Lineage. Limitations lists the ones
    the card states, then those that follow from the evaluation: flagged slices, fairness
    differences above 0.1, a calibration error above 0.05, the evaluation's notes, a test
    set under 1,000 rows, and the end of a time-split model's data period.

    Args:
        card: the version's facts as plain values. Keys (all optional): ``name``,
            ``version``, ``created_at``, ``task``, ``target``, ``description`` (intended
            use), ``aliases``, ``tags``; ``status`` (``blessed``, ``approval``,
            ``approval_by``, ``approval_reason``, ``approval_at``, ``archived``); ``data``
            (``dataset_hash``, ``n_rows``, ``columns``, ``source_uri``, ``schema_hash``,
            ``period``, ``split``); ``training`` (the fields of a
            :class:`~headway.artifacts.TrainedModel` and ``budget``); ``evaluation``
            (``to_dict`` of an :class:`~headway.artifacts.EvaluationReport`, optionally
            with ``behaviour``, ``latency_p95_ms`` and ``size_mb``); ``gates`` (``to_dict``
            of a :class:`~headway.artifacts.Blessing`, optionally with ``checks``);
            ``approvals`` (audit events, oldest first); ``limitations`` (strings);
            ``lineage`` (``run_id``, hashes, ``git_commit``, ``git_dirty``, ``packages``
            as a dict or JSON, ``model_uri``).

    Returns:
        ``(markdown, html)``. A missing or empty section reads "not recorded"; wrongly
        typed values are shown as text or skipped, never raised on. Metrics have 4
        decimals, counts thousands separators. The HTML escapes all text and has no
        scripts or external references; the Markdown escapes ``|`` in tables and ``<``.

    Example::

        markdown, page = render_model_card({"name": "credit", "version": "3", ...})
        Path("model_card.html").write_text(page, encoding="utf-8")
    """
    card = _map(card)
    title = _title(card)
    badges = _badges(card)
    sections = [(anchor, heading, build(card)) for anchor, heading, build in _SECTIONS]

    markdown = [f"# Model card: {_md(' '.join(title.split()))}", ""]
    markdown.append(" · ".join(f"**{_md(' '.join(text.split()))}**" for _, text in badges))
    for _, heading, blocks in sections:
        markdown += ["", f"## {heading}", ""]
        markdown.append("\n\n".join(block.markdown() for block in blocks))
    markdown_text = "\n".join(markdown) + "\n"

    nav = "".join(f'<a href="#{anchor}">{_esc(heading)}</a>' for anchor, heading, _ in sections)
    body = "".join(
        f'<section id="{anchor}"><h2>{_esc(heading)}</h2>'
        + "".join(block.html() for block in blocks)
        + "</section>"
        for anchor, heading, blocks in sections
    )
    badge_html = "".join(f'<span class="badge {tone}">{_esc(text)}</span>' for tone, text in badges)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>Model card: {_esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Model card: {_esc(title)}</h1><div>{badge_html}</div>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
    return markdown_text, page


def collect_card(
    registry: Any, name: str, version: str, *, events: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    """Assemble the card of ``name``/``version`` from the registry (aliases and tags, which
    carry the approval state), its run (the evaluation, gate, data and training records
    the pipeline logged) and its audit ``events`` (as dicts, oldest first).

    Args:
        registry: a :class:`headway.registry.ModelRegistry`.

    Raises:
        ModelNotFoundError: no such version.
    """
    info = registry.get_version(name, version)
    tags = {k.removeprefix("headway."): v for k, v in info.tags.items()}
    artifacts: dict[str, Any] = {}
    for key, path in _CARD_ARTIFACTS.items():
        artifacts[key] = _run_json(registry, info.run_id, path)
    config = _run_yaml(registry, info.run_id, "headway.yaml")
    dataset = _map(artifacts["dataset"])
    split = _map(artifacts["split"])
    model = _map(artifacts["model"])
    training = _map(config.get("training"))
    created = datetime.fromtimestamp(info.created_at_ms / 1000, UTC) if info.created_at_ms else None
    return {
        "name": name,
        "version": version,
        "created_at": created.isoformat(timespec="seconds") if created else None,
        "task": tags.get("task") or config.get("task"),
        "target": _map(config.get("data")).get("target"),
        "description": config.get("description"),
        "aliases": list(info.aliases),
        "status": {
            "blessed": info.blessed,
            "approval": tags.get("approval"),
            "approval_by": tags.get("approval_by"),
            "approval_reason": tags.get("approval_reason"),
            "approval_at": tags.get("approval_at"),
            "archived": tags.get("archived") == "true",
        },
        "data": {
            "dataset_hash": dataset.get("content_hash") or tags.get("dataset_hash"),
            "n_rows": dataset.get("n_rows"),
            "columns": dataset.get("columns"),
            "source_uri": dataset.get("source_uri") or tags.get("source_uri"),
            "schema_hash": dataset.get("schema_hash") or tags.get("schema_hash"),
            "period": split.get("period"),
            "split": {
                "strategy": split.get("strategy"),
                "train": split.get("n_train"),
                "valid": split.get("n_valid"),
                "test": split.get("n_test"),
            },
        },
        "training": {
            **{k: model.get(k) for k in _TRAINING_KEYS},
            "budget": training.get("budget"),
        },
        "evaluation": artifacts["evaluation"],
        "gates": artifacts["blessing"],
        "approvals": [dict(e) for e in events],
        "limitations": list(_seq(config.get("limitations"))),
        "lineage": {
            "run_id": info.run_id,
            "model_uri": f"models:/{name}/{version}",
            "dataset_hash": tags.get("dataset_hash"),
            "schema_hash": tags.get("schema_hash"),
            "config_hash": tags.get("config_hash"),
            "git_commit": tags.get("git_commit"),
            "git_dirty": tags.get("git_dirty"),
            "packages": tags.get("packages"),
        },
    }


_CARD_ARTIFACTS = {
    "evaluation": "evaluation/report.json",
    "blessing": "evaluation/blessing.json",
    "dataset": "data/dataset_version.json",
    "split": "data/split.json",
    "model": "search/model.json",
}
_TRAINING_KEYS = (
    "family",
    "params",
    "metric",
    "valid_score",
    "n_trials",
    "n_failed",
    "n_pruned",
    "leaderboard",
    "executor",
    "n_workers",
    "threshold",
    "calibration",
    "search_params",
)


def _run_json(registry: Any, run_id: str, path: str) -> Any:
    text = _run_text(registry, run_id, path)
    try:
        return json.loads(text) if text is not None else None
    except ValueError:
        return None


def _run_yaml(registry: Any, run_id: str, path: str) -> Mapping[str, Any]:
    import yaml

    text = _run_text(registry, run_id, path)
    try:
        loaded = yaml.safe_load(text) if text is not None else None
    except yaml.YAMLError:
        return {}
    return loaded if isinstance(loaded, Mapping) else {}


def _run_text(registry: Any, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or ``None`` when the run does not have it."""
    import tempfile
    from pathlib import Path

    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = registry.client.download_artifacts(run_id, path, tmp)
        except (MlflowException, OSError):
            return None
        return Path(local).read_text(encoding="utf-8")


def model_card(
    registry: ModelRegistry, audit: AuditLog, name: str, version: str
) -> tuple[str, str]:
    """The model card of ``name``/``version`` as it stands now (aliases, approvals and
    decisions included), as (Markdown, HTML).

    Raises:
        ModelNotFoundError: no such version.
    """
    events = [e.as_dict() for e in audit.events(model=name, version=version)]
    return render_model_card(collect_card(registry, name, version, events=events))
