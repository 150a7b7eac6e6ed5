"""The rollout's decision at one look: advance, hold, promote, roll back, or expire.

:func:`decide_rollout` is a pure function of the stored rollout, what it has seen so far
(:class:`~headway.automation.evidence.Observation`) and the configuration; the controller
applies what it returns. In order:

1. **Guardrails** (once the candidate has ``guardrails.min_rows`` rows): its error rate
   (from the servers' counters, since the rollout started), its p99 latency against the
   champion's, and the distance between the two versions' predictions. A breach rolls the
   candidate back at once: these are failures no online metric needs to confirm.
2. **The always-valid test** of the online metric (candidate minus champion, see
   :mod:`headway.automation.sequential`): when its confidence sequence lies entirely on
   the worse side of zero the candidate is rolled back, on any step; entirely on the
   better side, it is promoted once the last step has its rows.
3. **The budget**: a rollout older than ``max_duration``, or whose candidate has
   ``max_labels`` labelled rows without a verdict, ends undecided (``expire``; or
   ``promote`` under ``on_inconclusive: promote``). After a controller restart this also
   rolls out no evidence that has gone stale.
4. Otherwise the rollout **advances** to its next step when the candidate scored the
   step's ``min_rows`` rows, and **holds** while it has not.

Under the ``ab`` strategy there is one step (a sticky split) that lasts ``ab_duration``;
then the test's verdict decides (promote when better, roll back when worse, else
``on_inconclusive``), with the lift and its intervals reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from headway.automation.evidence import HIGHER_IS_BETTER, ErrorCounts, Observation
from headway.automation.sequential import ab_summary, decide, msprt
from headway.config.automation import RolloutConfig
from headway.config.monitoring import duration

__all__ = ["Action", "RolloutDecision", "decide_rollout", "describe_step", "plan_steps"]

Action = Literal["advance", "hold", "promote", "rollback", "expire"]


@dataclass(frozen=True)
class RolloutDecision:
    """What the controller does after one look, why, and the evidence it rests on."""

    action: Action
    reason: str
    kind: str
    p_value: float
    evidence: dict[str, Any] = field(default_factory=dict)


def plan_steps(config: RolloutConfig) -> list[dict[str, Any]]:
    """The steps of a new rollout, as stored in its state (the plan does not change if
    the configuration does while it runs)."""
    if config.strategy == "ab":
        return [
            {
                "mode": "ab",
                "weight": config.ab_weight,
                "entity_column": config.ab_entity_column,
                "min_rows": 0,
            }
        ]
    return [
        {"mode": s.mode, "weight": s.weight, "entity_column": None, "min_rows": s.min_rows}
        for s in config.steps
    ]


def _guardrails(
    obs: Observation, config: RolloutConfig, baseline: dict[str, float] | None
) -> tuple[str | None, dict[str, Any]]:
    """(the breach, or ``None``; what was measured)."""
    limits = config.guardrails
    measured: dict[str, Any] = {
        "prediction_shift": obs.prediction_shift,
        "latency_ratio": None,
        "error_rate": None,
    }
    champion, candidate = obs.champion, obs.candidate
    if champion.p99_latency_ms and candidate.p99_latency_ms is not None:
        measured["latency_ratio"] = candidate.p99_latency_ms / max(champion.p99_latency_ms, 1e-3)
    rate = _error_rate(obs.errors, baseline)
    measured["error_rate"] = rate
    if candidate.rows < limits.min_rows or champion.rows < limits.min_rows:
        return None, measured
    if rate is not None and rate > limits.max_error_rate:
        return (
            f"error rate {rate:.2%} of the candidate's requests is above "
            f"guardrails.max_error_rate {limits.max_error_rate:.2%}",
            measured,
        )
    ratio = measured["latency_ratio"]
    slow = (candidate.p99_latency_ms or 0.0) > limits.latency_floor_ms
    if ratio is not None and ratio > limits.max_latency_ratio and slow:
        return (
            f"p99 latency {candidate.p99_latency_ms:.1f} ms is {ratio:.1f}x the champion's "
            f"{champion.p99_latency_ms:.1f} ms (guardrails.max_latency_ratio "
            f"{limits.max_latency_ratio:g})",
            measured,
        )
    shift = obs.prediction_shift
    if shift is not None and shift > limits.max_prediction_shift:
        return (
            f"predictions differ from the champion's on the same traffic: Jensen-Shannon "
            f"distance {shift:.3f} > guardrails.max_prediction_shift "
            f"{limits.max_prediction_shift:g}",
            measured,
        )
    return None, measured


def _error_rate(errors: ErrorCounts | None, baseline: dict[str, float] | None) -> float | None:
    if errors is None:
        return None
    base = baseline or {"requests": 0.0, "errors": 0.0}
    requests = errors.requests - base.get("requests", 0.0)
    failed = errors.errors - base.get("errors", 0.0)
    if requests <= 0:
        return None
    return max(failed, 0.0) / requests


def decide_rollout(
    *,
    strategy: str,
    step: int,
    steps: list[dict[str, Any]],
    started_at: datetime,
    previous_p_value: float,
    error_baseline: dict[str, float] | None,
    observation: Observation,
    config: RolloutConfig,
    now: datetime,
) -> RolloutDecision:
    """The decision at this look (see the module)."""
    higher = HIGHER_IS_BETTER[observation.metric]
    evidence = msprt(
        observation.champion.metric,
        observation.candidate.metric,
        alpha=config.alpha,
        tau=config.min_effect,
        previous_p_value=previous_p_value,
        min_samples=config.min_labels,
    )
    verdict = decide(evidence, higher_is_better=higher)
    breach, guardrails = _guardrails(observation, config, error_baseline)
    record: dict[str, Any] = {
        "observation": observation.as_dict(),
        "test": evidence.as_dict(),
        "verdict": verdict,
        "guardrails": guardrails,
        "step": step,
    }
    if strategy == "ab":
        record["ab"] = ab_summary(
            observation.champion.metric,
            observation.candidate.metric,
            evidence=evidence,
            higher_is_better=higher,
        )
    p = evidence.p_value

    def made(action: Action, kind: str, reason: str) -> RolloutDecision:
        return RolloutDecision(action, reason, kind, p, record)

    if breach is not None:
        return made("rollback", "guardrail", f"guardrail: {breach}")
    summary = _summary(evidence.as_dict(), observation.metric)
    if verdict == "worse":
        return made("rollback", "worse", f"online {observation.metric} is worse: {summary}")
    last = step >= len(steps) - 1
    min_rows = int(steps[step].get("min_rows", 0))
    enough = observation.candidate_rows_in_step >= min_rows
    age = now - started_at
    if strategy == "ab":
        if age < duration(config.ab_duration, "ab_duration"):
            return made("hold", "ab_running", f"ab runs for {config.ab_duration}: {summary}")
        if verdict == "better":
            return made("promote", "better", f"ab ended, candidate better: {summary}")
        return _inconclusive(made, config, f"ab ended undecided: {summary}")
    if verdict == "better" and last and enough:
        return made("promote", "better", f"online {observation.metric} is better: {summary}")
    expired = age >= duration(config.max_duration, "max_duration")
    if expired or observation.candidate.metric.n >= config.max_labels:
        why = (
            f"older than rollout.max_duration {config.max_duration}"
            if expired
            else f"{observation.candidate.metric.n} labelled rows (rollout.max_labels)"
        )
        return _inconclusive(made, config, f"no verdict, {why}: {summary}")
    if not last and enough:
        nxt = steps[step + 1]
        return made(
            "advance",
            "advance",
            f"step {step + 1} ({describe_step(steps[step])}) saw "
            f"{observation.candidate_rows_in_step} rows, guardrails hold, no harm seen "
            f"({summary}); next: {describe_step(nxt)}",
        )
    if not enough:
        return made(
            "hold",
            "rows",
            f"step {step + 1} ({describe_step(steps[step])}): {observation.candidate_rows_in_step}"
            f" of {min_rows} rows",
        )
    return made("hold", "evidence", f"waiting for evidence: {summary}")


def _inconclusive(made: Any, config: RolloutConfig, reason: str) -> RolloutDecision:
    if config.on_inconclusive == "promote":
        return made("promote", "inconclusive", f"{reason}; on_inconclusive: promote")
    return made("expire", "inconclusive", f"{reason}; the champion stays")


def describe_step(step: dict[str, Any]) -> str:
    """A step as people read it: ``shadow``, ``canary 25%``, ``ab 50%``."""
    if step["mode"] == "shadow":
        return "shadow"
    return f"{step['mode']} {float(step['weight']):.0%}"


def _summary(test: dict[str, Any], metric: str) -> str:
    if not test.get("started"):
        return (
            f"{test.get('n_treatment', 0)} candidate and {test.get('n_control', 0)} champion "
            "labelled rows so far, too few to test"
        )
    low, high = test.get("ci_low"), test.get("ci_high")
    interval = f"[{low:+.4f}, {high:+.4f}]" if low is not None and high is not None else "n/a"
    return (
        f"candidate - champion {metric} = {test['difference']:+.4f}, always-valid "
        f"{1 - test['alpha']:.0%} interval {interval}, p = {test['p_value']:.3g} "
        f"({test['n_treatment']} vs {test['n_control']} labelled rows)"
    )
