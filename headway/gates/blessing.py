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
  differences;
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
        if change is None:
            point = candidate.primary - champion_value
            change = (point, point, point)
        estimate, low, high = (sign * v for v in change)
        low, high = min(low, high), max(low, high)
        oriented = (estimate, low, high)
        checks.append(
            _change_check(candidate, config, champion_value, champion_version, oriented, metric)
        )
    elif champion_version is not None:
        review = (
            f"champion v{champion_version} cannot score this holdout (its input columns "
            "differ), so the candidate was not compared with it: a person must approve it "
            "before it replaces the champion"
        )
        checks.append(_check("champion", True, None, None, review))
    else:
        checks.append(
            _check("champion", True, None, None, "no current champion: change thresholds skipped")
        )
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


def _change_check(
    candidate: EvaluationReport,
    config: GateConfig,
    champion_value: float,
    champion_version: str | None,
    change: tuple[float, float, float],
    metric: str,
) -> dict[str, Any]:
    estimate, low, high = change
    bar = max(config.min_improvement, config.min_relative_improvement * abs(champion_value))
    interval = "" if low == high else f" (95% interval {low:+.4f} to {high:+.4f})"
    head = (
        f"{metric} {_fmt(candidate.primary)} vs champion v{champion_version} "
        f"{_fmt(champion_value)}: change {estimate:+.4f}{interval}"
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
    bounds = (
        ("demographic_parity_difference", config.max_demographic_parity_difference),
        ("equalized_odds_difference", config.max_equalized_odds_difference),
    )
    checks = []
    for report in candidate.fairness:
        for key, bound in bounds:
            if bound is None:
                continue
            value = report.get(key)
            name = f"fairness:{report['column']}:{key}"
            if value is None:
                checks.append(_check(name, True, None, bound, f"{name} not defined for the task"))
                continue
            ok = math.isfinite(value) and value <= bound
            word = "<=" if ok else "exceeds"
            checks.append(_check(name, ok, value, bound, f"{name}={value:.4f} {word} {bound}"))
    return checks


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
