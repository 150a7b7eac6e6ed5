"""The sections of a model card about how the version did and what was decided: evaluation,
slices, fairness, top features, behavioural checks, gates and limitations.

Each ``*_section`` function reads the card (plain values, any of them missing or wrongly
typed) and returns the blocks to show; what is missing reads "not recorded".
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from headway.reports import _format as fmt
from headway.reports._blocks import Bars, Block, Bullets, Facts, Heading, Table, Text

_TOP_FEATURES = 10
_FAIRNESS_LIMIT = 0.1  # a parity or equalized-odds difference above this is a limitation
_CALIBRATION_LIMIT = 0.05  # an expected calibration error above this is a limitation
_SMALL_TEST = 1000  # fewer test rows than this is a limitation
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


def not_recorded() -> list[Block]:
    """The blocks of a section with nothing recorded."""
    return [Text("Not recorded.")]


def evaluation_section(card: Mapping[str, Any]) -> list[Block]:
    """Test metrics with intervals, calibration, latency, size, business value."""
    evaluation = fmt.as_map(card.get("evaluation"))
    if not evaluation:
        return not_recorded()
    metric = evaluation.get("metric")
    metrics = fmt.as_map(evaluation.get("metrics"))
    intervals = fmt.as_map(evaluation.get("intervals"))
    direction = evaluation.get("higher_is_better")
    intro = f"Scored on {fmt.count(evaluation.get('n_test'), fmt.NOT_RECORDED)} held-out test rows."
    if metric:
        intro += f" Primary metric: {metric}"
        if isinstance(direction, bool):
            intro += f" ({'higher' if direction else 'lower'} is better)"
        intro += "."
    intro += " Intervals are 95% bootstrap intervals."
    blocks: list[Block] = [Text(intro)]
    names = sorted(metrics, key=lambda name: str(name) != str(metric))  # primary first
    if names:
        table = [
            (
                f"{name} (primary)" if str(name) == str(metric) else str(name),
                fmt.metric(metrics[name]),
                fmt.interval(intervals.get(name)),
            )
            for name in names
        ]
        blocks.append(Table(("metric", "value", "95% interval"), table, numeric=frozenset({1})))
    else:
        blocks.append(Text("Metrics: not recorded."))
    rows = []
    ece = evaluation.get("calibration_error")
    if ece is not None:
        number = fmt.as_number(ece)
        verdict = (
            ""
            if number is None
            else f" (above {_CALIBRATION_LIMIT}: probabilities are off)"
            if number > _CALIBRATION_LIMIT
            else f" (at most {_CALIBRATION_LIMIT}: well calibrated)"
        )
        rows.append(("Calibration error (ECE)", fmt.metric(ece) + verdict))
    if evaluation.get("latency_p95_ms") is not None:
        rows.append(("Latency, 95th percentile", f"{fmt.plain(evaluation['latency_p95_ms'])} ms"))
    if evaluation.get("size_mb") is not None:
        rows.append(("Model size", f"{fmt.plain(evaluation['size_mb'])} MB"))
    if rows:
        blocks.append(Facts(rows))
    blocks.append(Heading("Business value"))
    value = fmt.as_map(evaluation.get("business_value"))
    if not value:
        blocks.append(Text("Not recorded."))
        return blocks
    blocks.append(
        Text(
            f"{fmt.amount(value.get('per_1000'))} per 1,000 predictions; "
            f"{fmt.amount(value.get('total'))} in total over "
            f"{fmt.count(value.get('n'))} test rows, at the model's decision threshold."
        )
    )
    counts, values = fmt.as_map(value.get("counts")), fmt.as_map(value.get("values"))
    outcomes = list(dict.fromkeys([*counts, *values]))
    if outcomes:
        outcome_rows = []
        for outcome in outcomes:
            n, each = fmt.as_number(counts.get(outcome)), fmt.as_number(values.get(outcome))
            subtotal = fmt.amount(n * each) if n is not None and each is not None else fmt.DASH
            outcome_rows.append(
                (
                    str(outcome).replace("_", " "),
                    fmt.count(counts.get(outcome)),
                    fmt.amount(values.get(outcome)),
                    subtotal,
                )
            )
        header = ("outcome", "rows", "value each", "value")
        blocks.append(Table(header, outcome_rows, numeric=frozenset({1, 2, 3})))
    return blocks


def slices_section(card: Mapping[str, Any]) -> list[Block]:
    """The metric per slice of the test rows, flagged slices first."""
    evaluation = fmt.as_map(card.get("evaluation"))
    slices = [fmt.as_map(s) for s in fmt.as_list(evaluation.get("slices"))]
    if not slices:
        return not_recorded()
    metric = str(evaluation.get("metric") or "")
    ordered = sorted(
        slices, key=lambda s: not fmt.as_flag(s.get("flagged"))
    )  # stable: flagged first
    flagged = [s for s in ordered if fmt.as_flag(s.get("flagged"))]
    columns = list(dict.fromkeys(str(s.get("column")) for s in slices))
    intro = (
        f"{fmt.plural(len(slices), 'slice')} of the test rows, by {', '.join(columns)}; "
        f"{len(flagged):,} flagged: the primary metric is clearly worse there than overall."
    )
    table, marks = [], []
    for s in ordered:
        is_flagged = bool(fmt.as_flag(s.get("flagged")))
        table.append(
            (
                "flagged" if is_flagged else "",
                fmt.as_text(s.get("column"), fmt.DASH),
                fmt.as_text(s.get("value"), fmt.DASH),
                fmt.count(s.get("n")),
                fmt.metric(fmt.as_map(s.get("metrics")).get(metric)),
                fmt.as_text(s.get("reason"), ""),
            )
        )
        marks.append("bad" if is_flagged else "")
    header = ("", "column", "value", "rows", metric or "primary metric", "note")
    return [Text(intro), Table(header, table, marks, frozenset({3, 4}))]


def fairness_section(card: Mapping[str, Any]) -> list[Block]:
    """Parity and equalized-odds differences with their intervals, the groups too small to
    be gated, and metrics per group."""
    evaluation = fmt.as_map(card.get("evaluation"))
    reports = [fmt.as_map(r) for r in fmt.as_list(evaluation.get("fairness"))]
    if not reports:
        return not_recorded()
    blocks: list[Block] = [
        Text(
            "Per sensitive column: the demographic parity difference is the largest gap in "
            "selection rate between two groups, the equalized odds difference the larger of "
            "the gaps in true and false positive rate (0 is parity; above "
            f"{_FAIRNESS_LIMIT} is listed under Limitations), each with its 95% bootstrap "
            "interval. Groups smaller than the minimum group size are shown but not gated; "
            "numeric columns are grouped in quantile bins."
        )
    ]
    for report in reports:
        blocks.append(Heading(f"Sensitive column: {fmt.as_text(report.get('column'))}"))
        blocks.append(Facts(_fairness_facts(report)))
        groups = fmt.as_map(report.get("by_group"))
        if groups:
            excluded = {str(g) for g in fmt.as_list(report.get("excluded_groups"))}
            keys = list(dict.fromkeys(k for g in groups.values() for k in fmt.as_map(g)))
            keys = (["n"] if "n" in keys else []) + [k for k in keys if k != "n"]
            table, marks = [], []
            for group, values in groups.items():
                stats = fmt.as_map(values)
                cells = [
                    fmt.count(stats.get(k)) if k == "n" else fmt.metric(stats.get(k)) for k in keys
                ]
                small = str(group) in excluded
                note = ["not gated (too small)" if small else ""] if excluded else []
                table.append((str(group), *cells, *note))
                marks.append("warn" if small else "")
            numeric = frozenset(range(1, len(keys) + 1))
            header = ("group", *keys, *(["note"] if excluded else []))
            blocks.append(Table(header, table, marks, numeric=numeric))
    return blocks


def _fairness_facts(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    undefined = fmt.as_map(report.get("undefined"))
    for key, label in (
        ("demographic_parity_difference", "Demographic parity difference"),
        ("equalized_odds_difference", "Equalized odds difference"),
    ):
        if key in undefined:
            rows.append((label, f"not enough data: {fmt.as_text(undefined[key])}"))
            continue
        number = fmt.as_number(report.get(key))
        above = number is not None and number > _FAIRNESS_LIMIT
        note = f" (above {_FAIRNESS_LIMIT})" if above else ""
        interval = report.get(f"{key}_interval")
        if fmt.interval(interval) != fmt.DASH:
            note = f" (95% interval {fmt.interval(interval)})" + note
        # fairness_report leaves equalized odds as None where the task has no such rates
        undefined_for_task = key == "equalized_odds_difference" and key in report
        missing = "not defined for this task" if undefined_for_task else fmt.NOT_RECORDED
        rows.append((label, fmt.metric(report.get(key), missing) + note))
    groups = fmt.as_map(report.get("by_group"))
    excluded = [str(g) for g in fmt.as_list(report.get("excluded_groups"))]
    if excluded:
        sizes = ", ".join(
            f"{g} ({fmt.count(fmt.as_map(groups.get(g)).get('n'))} rows)" for g in excluded
        )
        minimum = fmt.count(report.get("min_group_size"))
        rows.append((f"Not gated (fewer than {minimum} rows)", sizes))
    missing_rows = fmt.as_number(report.get("missing_rows"))
    if missing_rows:
        excluded_rows = report.get("missing") == "exclude"
        how = "left out of the report" if excluded_rows else "a group of their own"
        rows.append(("Rows with a missing value", f"{fmt.count(missing_rows)} ({how})"))
    edges = [fmt.as_number(e) for e in fmt.as_list(report.get("bin_edges"))]
    cuts = [f"{e:g}" for e in edges if e is not None]
    if cuts and len(cuts) == len(edges):
        rows.append(("Quantile bins", f"{len(cuts) - 1}, cut at {', '.join(cuts)}"))
    return rows


def features_section(card: Mapping[str, Any]) -> list[Block]:
    """The largest mean absolute SHAP values as a bar chart."""
    evaluation = fmt.as_map(card.get("evaluation"))
    importance = fmt.as_map(evaluation.get("importance"))
    items = [(str(k), n) for k, v in importance.items() if (n := fmt.as_number(v)) is not None]
    if not items:
        notes = [str(n) for n in fmt.as_list(evaluation.get("notes")) if "SHAP" in str(n)]
        return [Text(" ".join(["Not recorded.", *notes]))]
    items.sort(key=lambda kv: -kv[1] if math.isfinite(kv[1]) else math.inf)
    shown = items[:_TOP_FEATURES]
    intro = (
        "Mean absolute SHAP value on the test rows: how far each input moves the prediction "
        f"on average, largest first. Showing {len(shown):,} of {fmt.plural(len(items), 'feature')}."
    )
    return [Text(intro), Bars.of(shown, "mean |SHAP|")]


def behaviour_section(card: Mapping[str, Any]) -> list[Block]:
    """The behavioural checks and their outcomes."""
    evaluation = fmt.as_map(card.get("evaluation"))
    checks = [fmt.as_map(c) for c in fmt.as_list(evaluation.get("behaviour"))]
    if not checks:
        return not_recorded()
    table, marks = [], []
    for check in checks:
        passed = fmt.as_flag(check.get("passed"))
        table.append(
            (
                _result(passed),
                fmt.as_text(check.get("name"), fmt.DASH),
                fmt.as_text(check.get("detail"), ""),
            )
        )
        marks.append(_mark(passed))
    n_failed = sum(1 for m in marks if m == "bad")
    intro = f"{fmt.plural(len(checks), 'check')}, {n_failed:,} failed."
    return [Text(intro), Table(("result", "check", "detail"), table, marks)]


def _result(passed: bool | None) -> str:
    return "✓ pass" if passed else "✗ fail" if passed is not None else fmt.DASH


def _mark(passed: bool | None) -> str:
    return "ok" if passed else "bad" if passed is not None else ""


def _reason_mark(reason: str) -> str:
    """``ok``, ``bad`` or ``""`` (context) for a reason worded by headway.gates.bless."""
    if any(phrase in reason for phrase in _FAILED_REASON):
        return "bad"
    if any(phrase in reason for phrase in _NOTE_REASON):
        return ""
    return "ok"


def failures(gates: Mapping[str, Any]) -> list[str]:
    """What stopped a candidate: the failed checks' details, else the failed reasons."""
    checks = [fmt.as_map(c) for c in fmt.as_list(gates.get("checks"))]
    if checks:
        return [
            fmt.as_text(c.get("detail"), fmt.as_text(c.get("name"), "a check"))
            for c in checks
            if fmt.as_flag(c.get("passed")) is False
        ]
    return [str(r) for r in fmt.as_list(gates.get("reasons")) if _reason_mark(str(r)) == "bad"]


def _change(value: Any) -> str | None:
    """A Blessing's ``change`` (estimate, low, high), positive = better, as text."""
    parts = [fmt.as_number(v) for v in fmt.as_list(value)]
    if len(parts) != 3 or any(p is None or not math.isfinite(p) for p in parts):
        return None
    estimate, low, high = (p or 0.0 for p in parts)
    interval = "" if low == high else f" (95% interval {low:+.4f} to {high:+.4f})"
    return f"{estimate:+.4f}{interval}; positive is better"


def gates_section(card: Mapping[str, Any]) -> list[Block]:
    """The gate's verdict, the champion comparison, each check and the reasons."""
    gates = fmt.as_map(card.get("gates"))
    if not gates:
        return not_recorded()
    blessed = fmt.as_flag(gates.get("blessed"))
    champion = gates.get("champion_version")
    verdict = {True: "Blessed.", False: "Not blessed.", None: "Outcome not recorded."}[blessed]
    rows = [
        ("Metric", fmt.as_text(gates.get("metric"))),
        ("Candidate", fmt.metric(gates.get("candidate_value"), fmt.NOT_RECORDED)),
        (
            "Champion",
            f"v{champion}: {fmt.metric(gates.get('champion_value'), 'could not be scored')}"
            if champion is not None
            else "none",
        ),
    ]
    change = _change(gates.get("change"))
    if change is not None:
        rows.append(("Change against the champion", change))
    blocks: list[Block] = [Text(verdict), Facts(rows)]
    checks = [fmt.as_map(c) for c in fmt.as_list(gates.get("checks"))]
    if checks:
        table, marks = [], []
        for check in checks:
            passed = fmt.as_flag(check.get("passed"))
            table.append(
                (
                    _result(passed),
                    fmt.as_text(check.get("name"), fmt.DASH),
                    fmt.metric(check.get("value")),
                    fmt.metric(check.get("bound")),
                    fmt.as_text(check.get("detail"), ""),
                )
            )
            marks.append(_mark(passed))
        header = ("result", "check", "value", "bound", "detail")
        blocks.append(Table(header, table, marks, frozenset({2, 3})))
    # A Blessing's reasons repeat its checks' details: list only those that add something.
    details = {str(c.get("detail")) for c in checks}
    reasons = [str(r) for r in fmt.as_list(gates.get("reasons")) if str(r) not in details]
    if reasons:
        items = []
        for reason in reasons:
            mark = _reason_mark(reason)
            prefix = {"ok": "✓ pass: ", "bad": "✗ fail: "}.get(mark, "note: ")
            items.append((mark, prefix + reason))
        blocks += [Heading("Reasons"), Bullets(items)]
    elif not checks:
        blocks.append(Text("Reasons: not recorded."))
    return blocks


def _derived_limitations(card: Mapping[str, Any]) -> list[str]:
    evaluation = fmt.as_map(card.get("evaluation"))
    out: list[str] = []
    if not evaluation:
        out.append("No evaluation is recorded: how the model does on held-out data is unknown.")
    for s in (fmt.as_map(s) for s in fmt.as_list(evaluation.get("slices"))):
        if fmt.as_flag(s.get("flagged")):
            reason = fmt.as_text(s.get("reason"), "flagged by the slice evaluation")
            out.append(f"Performs worse on {s.get('column')}={s.get('value')}: {reason}.")
    for report in (fmt.as_map(r) for r in fmt.as_list(evaluation.get("fairness"))):
        column = fmt.as_text(report.get("column"))
        for key, what, name in (
            ("demographic_parity_difference", "Selection rates", "demographic parity"),
            ("equalized_odds_difference", "Error rates", "equalized odds"),
        ):
            number = fmt.as_number(report.get(key))
            if number is not None and number > _FAIRNESS_LIMIT:
                out.append(
                    f"{what} differ across {column} groups: {name} difference "
                    f"{fmt.metric(number)} (above {_FAIRNESS_LIMIT})."
                )
        undefined = fmt.as_map(report.get("undefined"))
        if "demographic_parity_difference" in undefined:
            out.append(
                f"Fairness across {column} groups could not be gated: "
                f"{fmt.as_text(undefined['demographic_parity_difference'])} "
                "(evaluation.min_group_size)."
            )
    ece = fmt.as_number(evaluation.get("calibration_error"))
    if ece is not None and ece > _CALIBRATION_LIMIT:
        out.append(
            f"Predicted probabilities are miscalibrated: expected calibration error "
            f"{fmt.metric(ece)} (above {_CALIBRATION_LIMIT}); read scores as a ranking, not as "
            "probabilities."
        )
    out += [str(note) for note in fmt.as_list(evaluation.get("notes"))]
    n_test = fmt.as_number(evaluation.get("n_test"))
    if n_test is not None and n_test < _SMALL_TEST:
        out.append(
            f"Evaluated on only {fmt.count(n_test)} test rows (fewer than {_SMALL_TEST:,}): "
            "the metrics are uncertain; read them with their intervals."
        )
    data = fmt.as_map(card.get("data"))
    period = fmt.as_list(data.get("period"))
    if (
        str(fmt.as_map(data.get("split")).get("strategy")) == "time"
        and len(period) == 2
        and period[1]
    ):
        out.append(
            f"Trained and tested on data from {period[0]} to {period[1]} (time split): it has "
            f"not seen data after {period[1]}; patterns that changed since may not hold."
        )
    return out


def limitations_section(card: Mapping[str, Any]) -> list[Block]:
    """The stated limitations, then those that follow from the evaluation."""
    stated = [str(x) for x in fmt.as_list(card.get("limitations")) if str(x).strip()]
    every = list(dict.fromkeys([*stated, *_derived_limitations(card)]))
    if not every:
        return [Text("Not recorded: none were stated and none follow from the evaluation.")]
    derived = len(every) - len(stated)
    source = [f"{len(stated):,} stated by the model's owner"] if stated else []
    source += [f"{derived:,} derived from the evaluation and the data"] if derived else []
    return [Text(" and ".join(source) + "."), Bullets([("", i) for i in every])]
