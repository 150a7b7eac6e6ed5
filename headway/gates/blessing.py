"""Blessing: does a candidate deserve to replace the champion?"""

from __future__ import annotations

import math

from headway.artifacts import Blessing, EvaluationReport
from headway.project import HIGHER_IS_BETTER, GateConfig

__all__ = ["bless"]

#: Differences this small are floating-point noise (multithreaded BLAS can change the
#: last bits of a linear model between two fits on the same data), never an improvement.
TIE_TOLERANCE = 1e-9


def bless(
    candidate: EvaluationReport,
    *,
    config: GateConfig,
    champion: EvaluationReport | None = None,
    champion_version: str | None = None,
) -> Blessing:
    """Apply the value thresholds, then the comparison with the champion.

    The champion, when there is one, must have been scored on the same holdout rows as
    the candidate. The candidate is blessed only if every threshold holds and its primary
    metric beats the champion's by more than ``config.min_improvement`` (a tie keeps the
    champion, and differences under ``TIE_TOLERANCE`` count as ties: re-training on
    unchanged data does not move the alias).

    Returns:
        A :class:`Blessing`; when ``blessed`` is false, ``reasons`` says why.
    """
    reasons: list[str] = []
    ok = True
    for name, bound in config.min_metrics.items():
        value = candidate.metrics.get(name)
        if value is None or not math.isfinite(value) or value < bound:
            ok = False
            reasons.append(f"{name}={_fmt(value)} is below the minimum {bound}")
        else:
            reasons.append(f"{name}={_fmt(value)} >= {bound}")
    for name, bound in config.max_metrics.items():
        value = candidate.metrics.get(name)
        if value is None or not math.isfinite(value) or value > bound:
            ok = False
            reasons.append(f"{name}={_fmt(value)} is above the maximum {bound}")
        else:
            reasons.append(f"{name}={_fmt(value)} <= {bound}")

    metric = candidate.metric
    champion_value: float | None = None
    if champion is not None:
        champion_value = champion.metrics[metric]
        delta = candidate.primary - champion_value
        if not HIGHER_IS_BETTER[metric]:
            delta = -delta
        if delta - config.min_improvement > TIE_TOLERANCE:
            reasons.append(
                f"{metric} {_fmt(candidate.primary)} vs champion v{champion_version} "
                f"{_fmt(champion_value)}: improves by {delta:+.4f}"
            )
        else:
            ok = False
            reasons.append(
                f"{metric} {_fmt(candidate.primary)} does not beat champion v{champion_version} "
                f"{_fmt(champion_value)} by the required {config.min_improvement} "
                f"(change {delta:+.4f})"
            )
    elif champion_version is not None:
        reasons.append(
            f"champion v{champion_version} cannot score this holdout (its input columns "
            "differ): judged on the bounds alone"
        )
    else:
        reasons.append("no current champion")
    return Blessing(
        blessed=ok,
        reasons=tuple(reasons),
        metric=metric,
        candidate_value=candidate.primary,
        champion_version=champion_version,
        champion_value=champion_value,
    )


def _fmt(value: float | None) -> str:
    return "missing" if value is None else f"{value:.4f}"
