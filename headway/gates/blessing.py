"""Blessing: does a candidate deserve to replace the champion?

A :class:`Blessing` is always produced, also when negative, with one check per gate:

- value thresholds: ``gates.min_metrics`` / ``gates.max_metrics`` on the test metrics;
- change thresholds against the current champion, scored on the same test rows: the
  candidate must beat it by more than ``min_improvement`` (absolute) and
  ``min_relative_improvement`` (relative) *beyond noise*: the lower end of the 95% interval
  of a paired bootstrap of the difference must clear the bar. A change inside the noise is
  neither better nor worse: the champion stays. Without a champion these checks are
  skipped, and the skip is recorded. A champion that cannot score the candidate's test rows
  (its input columns differ) cannot be compared: the candidate is judged on its bounds, and
  the blessing asks for a person's review before it may replace the champion;
- fairness bounds on every sensitive column's demographic parity and equalized odds
  differences, read from their bootstrap intervals (``gates.fairness_evidence``): by
  default a bound fails only when the gap exceeds it beyond noise; groups under
  ``evaluation.min_group_size`` rows are not gated, and a gap without two such groups is
  recorded as "not enough data" without blocking;
- a latency budget (p95 of a one-row prediction) and a model size budget;
- the behavioural checks of the evaluation (determinism, invariance, monotonicity, edge
  rows), unless ``gates.behaviour`` is off.
"""

from __future__ import annotations

import math
from typing import Any

from headway.artifacts import Blessing, EvaluationReport
from headway.config import GateConfig
from headway.tasks import HIGHER_IS_BETTER

__all__ = ["TIE_TOLERANCE", "bless"]

#: Differences this small are floating-point noise (multithreaded BLAS can change the
#: last bits of a linear model between two fits on the same data), never an improvement.
TIE_TOLERANCE = 1e-9


def _check(name: str, passed: bool, value: Any, bound: Any, detail: str) -> dict[str, Any]:
    return {"name": name, "passed": passed, "value": value, "bound": bound, "detail": detail}


def bless(
    candidate: EvaluationReport,
    *,
    config: GateConfig,
    champion: EvaluationReport | None = None,
    champion_version: str | None = None,
    change: tuple[float, float, float] | None = None,
    compared_value: float | None = None,
    compared_rows: int | None = None,
    dropped_rows: int = 0,
    not_compared: str | None = None,
    itself: str | None = None,
) -> Blessing:
    """Apply every gate to ``candidate``.

    Args:
        candidate: the candidate's evaluation on the test rows.
        config: the project's gates.
        champion: the champion's evaluation on the same rows, if there is a champion that
            could score them.
        champion_version: the champion's version (also when it could not score the rows).
        change: the paired-bootstrap difference of the primary metric, candidate minus
            champion, as (estimate, low, high) in the metric's own direction; when omitted
            the point values are compared.
        compared_value: the candidate's primary metric on the compared rows, when they are
            fewer than its test rows (``dropped_rows`` left out: the champion trained on
            them); ``compared_rows`` is how many were compared.
        not_compared: why a champion (``champion_version``) could not be compared; the
            candidate is then judged on its bounds and asks for a person's review.
        itself: the version being re-gated when it is the champion (no comparison).

    Returns:
        A :class:`Blessing`; when ``blessed`` is false, ``reasons`` and ``checks`` say why.
    """
    checks = _value_checks(candidate, config)
    metric = candidate.metric
    champion_value: float | None = None
    oriented: tuple[float, float, float] | None = None
    review: str | None = None
    if champion is not None:
        champion_value = champion.metrics[metric]
        sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
        own = candidate.primary if compared_value is None else compared_value
        if change is None:
            point = own - champion_value
            change = (point, point, point)
        estimate, low, high = (sign * v for v in change)
        low, high = min(low, high), max(low, high)
        oriented = (estimate, low, high)
        checks.append(
            _change_check(
                own,
                config,
                champion_value,
                champion_version,
                oriented,
                metric,
                _rows_note(compared_rows, dropped_rows),
            )
        )
    elif champion_version is not None:
        why = not_compared or "cannot score this holdout (its input columns differ)"
        review = (
            f"champion v{champion_version} {why}, so the candidate was not compared with "
            "it: a person must approve it before it replaces the champion"
        )
        checks.append(_check("champion", True, None, None, review))
    else:
        skipped = (
            f"v{itself} is the champion itself: judged on its bounds alone"
            if itself is not None
            else "no current champion: change thresholds skipped"
        )
        checks.append(_check("champion", True, None, None, skipped))
    checks.extend(_fairness_checks(candidate, config))
    if config.behaviour:
        checks.extend(_behaviour_checks(candidate))
    checks.extend(_budget_checks(candidate, config))
    reasons = tuple(c["detail"] for c in checks)
    return Blessing(
        blessed=all(c["passed"] for c in checks),
        reasons=reasons,
        metric=metric,
        candidate_value=candidate.primary,
        champion_version=champion_version,
        champion_value=champion_value,
        checks=tuple(checks),
        change=oriented,
        review=review,
        compared_rows=compared_rows if champion is not None else None,
        dropped_rows=dropped_rows,
    )


def _value_checks(candidate: EvaluationReport, config: GateConfig) -> list[dict[str, Any]]:
    checks = []
    for name, bound in config.min_metrics.items():
        value = candidate.metrics.get(name)
        ok = value is not None and math.isfinite(value) and value >= bound
        detail = (
            f"{name}={_fmt(value)} >= {bound}"
            if ok
            else f"{name}={_fmt(value)} is below the minimum {bound}"
        )
        checks.append(_check(f"min:{name}", ok, value, bound, detail))
    for name, bound in config.max_metrics.items():
        value = candidate.metrics.get(name)
        ok = value is not None and math.isfinite(value) and value <= bound
        detail = (
            f"{name}={_fmt(value)} <= {bound}"
            if ok
            else f"{name}={_fmt(value)} is above the maximum {bound}"
        )
        checks.append(_check(f"max:{name}", ok, value, bound, detail))
    return checks


def _rows_note(compared: int | None, dropped: int) -> str:
    if compared is None:
        return ""
    if not dropped:
        return f" on {compared:,} test rows"
    return (
        f" on {compared:,} test rows ({dropped:,} the champion trained on left out of the "
        "comparison)"
    )


def _change_check(
    value: float,
    config: GateConfig,
    champion_value: float,
    champion_version: str | None,
    change: tuple[float, float, float],
    metric: str,
    rows: str = "",
) -> dict[str, Any]:
    estimate, low, high = change
    bar = max(config.min_improvement, config.min_relative_improvement * abs(champion_value))
    interval = "" if low == high else f" (95% interval {low:+.4f} to {high:+.4f})"
    head = (
        f"{metric} {_fmt(value)} vs champion v{champion_version} "
        f"{_fmt(champion_value)}{rows}: change {estimate:+.4f}{interval}"
    )
    if low - bar > TIE_TOLERANCE:
        return _check("champion", True, estimate, bar, f"{head}, improves beyond noise")
    if high < -TIE_TOLERANCE:
        verdict = "worse beyond noise"
    elif low == high:
        verdict = f"does not beat champion by the required {bar:g}"
    else:
        verdict = f"within noise: does not beat champion by the required {bar:g}"
    return _check("champion", False, estimate, bar, f"{head}; {verdict}")


def _fairness_checks(candidate: EvaluationReport, config: GateConfig) -> list[dict[str, Any]]:
    """One check per sensitive column and configured bound.

    A gap with a 95% bootstrap interval is read the way the champion comparison reads its
    change: with ``gates.fairness_evidence: violation`` (the default) the check fails only
    when the interval's lower end exceeds the bound (a violation beyond noise), and an
    interval that straddles the bound passes as "within noise"; with ``compliance`` it
    passes only when the upper end is within the bound. Without an interval (no
    resamples, or a record written before intervals) the point value is compared. A gap
    left undefined for want of data (fewer than two groups of the minimum size) does not
    block; the check says "not enough data". Groups too small to be gated are named.
    """
    bounds = (
        ("demographic_parity_difference", config.max_demographic_parity_difference),
        ("equalized_odds_difference", config.max_equalized_odds_difference),
    )
    return [
        _fairness_check(report, key, bound, config.fairness_evidence)
        for report in candidate.fairness
        for key, bound in bounds
        if bound is not None
    ]


def _fairness_check(
    report: dict[str, Any], key: str, bound: float, evidence: str
) -> dict[str, Any]:
    name = f"fairness:{report['column']}:{key}"
    value = report.get(key)
    small = _small_groups(report)
    undefined = (report.get("undefined") or {}).get(key)
    if undefined:
        detail = f"{name} not gated, not enough data: {undefined}{small}"
        return _check(name, True, None, bound, detail)
    if value is None:
        return _check(name, True, None, bound, f"{name} not defined for the task")
    interval = report.get(f"{key}_interval")
    if not (math.isfinite(value) and interval and all(math.isfinite(v) for v in interval)):
        ok = math.isfinite(value) and value <= bound
        word = "<=" if ok else "exceeds"
        return _check(name, ok, value, bound, f"{name}={value:.4f} {word} {bound}{small}")
    low, high = interval
    head = f"{name}={value:.4f} (95% interval {low:.4f} to {high:.4f}), bound {bound:g}"
    if low > bound:
        return _check(name, False, value, bound, f"{head}: exceeds the bound beyond noise{small}")
    if high <= bound:
        return _check(name, True, value, bound, f"{head}: within the bound beyond noise{small}")
    if evidence == "compliance":
        verdict = "within noise, not shown to be within the bound (fairness_evidence: compliance)"
        return _check(name, False, value, bound, f"{head}: {verdict}{small}")
    verdict = "within noise, no evidence of a violation (fairness_evidence: violation)"
    return _check(name, True, value, bound, f"{head}: {verdict}{small}")


def _small_groups(report: dict[str, Any]) -> str:
    """The groups of a fairness record too small to be gated, with their sizes."""
    excluded = report.get("excluded_groups") or ()
    if not excluded:
        return ""
    by_group = report.get("by_group") or {}
    sizes = ", ".join(f"{g} ({int(by_group.get(g, {}).get('n', 0))})" for g in excluded)
    return f"; not gated, under {report.get('min_group_size')} rows: {sizes}"


def _behaviour_checks(candidate: EvaluationReport) -> list[dict[str, Any]]:
    if not candidate.behaviour:
        return []
    failed = [b for b in candidate.behaviour if not b["passed"]]
    if not failed:
        detail = f"behaviour: all {len(candidate.behaviour)} checks pass"
        return [_check("behaviour", True, len(candidate.behaviour), None, detail)]
    return [
        _check(
            f"behaviour:{b['name']}", False, b.get("failing_rows"), 0, f"{b['name']}: {b['detail']}"
        )
        for b in failed
    ]


def _budget_checks(candidate: EvaluationReport, config: GateConfig) -> list[dict[str, Any]]:
    checks = []
    budgets = (
        ("latency_p95_ms", candidate.latency_p95_ms, config.max_latency_ms, "ms"),
        ("size_mb", candidate.size_mb, config.max_model_size_mb, "MB"),
    )
    for name, value, bound, unit in budgets:
        if bound is None:
            continue
        if value is None:
            checks.append(_check(name, False, None, bound, f"{name} was not measured"))
            continue
        ok = value <= bound
        word = "within" if ok else "over"
        detail = f"{name}={value:.2f} {unit} {word} the budget of {bound:g} {unit}"
        checks.append(_check(name, ok, value, bound, detail))
    return checks


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4f}"
