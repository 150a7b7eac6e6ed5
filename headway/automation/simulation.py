"""Monte-Carlo check of the rollout decision: how often is it wrong, how soon is it right?

Each simulated rollout serves ``batch_size`` labelled rows per look, a share ``weight`` to
the candidate at random; the per-row metric is 1 for a correct prediction (a Bernoulli
draw at the version's accuracy), higher is better. After every batch the decision is
taken from everything so far, and the rollout stops at its first decision or undecided at
``max_samples`` rows. All runs and looks are computed at once as arrays: cumulative counts,
sums and sums of squares per look give each version's moments, and the test runs on the
whole grid.

``method="msprt"`` reads :func:`~headway.automation.sequential.msprt` through
:func:`~headway.automation.sequential.decide`; ``method="naive"`` reads the fixed-horizon
z-test at every look, deciding at the first ``p < alpha``, to show what goes wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from headway.automation.sequential import _check_alpha, _mixture, default_tau

__all__ = ["Method", "SimulationResult", "simulate_rollouts"]

Method = Literal["msprt", "naive"]

_IntArray = npt.NDArray[np.int64]
_FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class SimulationResult:
    """Rates over ``n_simulations`` rollouts of one method at one true difference.

    ``wrong_promotions`` counts promotions when the candidate is not better (true
    difference <= 0), ``wrong_rollbacks`` rollbacks when it is not worse (>= 0); under no
    true difference both are wrong. ``power`` is the rate of the right decision when there
    is a difference (``None`` without one). ``median_samples_to_decision`` counts labelled
    rows of both versions at the decision, over the runs that decided.
    """

    method: Method
    n_simulations: int
    true_difference: float
    baseline: float
    batch_size: int
    max_samples: int
    alpha: float
    tau: float | None
    promotions: float
    rollbacks: float
    undecided: float
    wrong_promotions: float
    wrong_rollbacks: float
    power: float | None
    median_samples_to_decision: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _look_decisions(
    n_c: _IntArray,
    sum_c: _FloatArray,
    sq_c: _FloatArray,
    n_t: _IntArray,
    sum_t: _FloatArray,
    sq_t: _FloatArray,
    *,
    method: Method,
    alpha: float,
    tau: float,
    min_samples: int,
) -> npt.NDArray[np.int8]:
    """Decision at each look: +1 better, -1 worse, 0 undecided (higher is better).

    Inputs are cumulative counts, sums and sums of squares per version, any shape; the
    moments follow :meth:`Moments.from_sums` and the test follows ``msprt`` + ``decide``
    (or the z-test), element by element.
    """
    safe_n_c, safe_n_t = np.maximum(n_c, 1), np.maximum(n_t, 1)
    mean_c, mean_t = sum_c / safe_n_c, sum_t / safe_n_t
    m2_c = np.maximum(sq_c - sum_c * mean_c, 0.0)
    m2_t = np.maximum(sq_t - sum_t * mean_t, 0.0)
    variance = m2_c / np.maximum(n_c - 1, 1) / safe_n_c + m2_t / np.maximum(n_t - 1, 1) / safe_n_t
    started = (n_c >= min_samples) & (n_t >= min_samples) & (variance > 0)
    difference = mean_t - mean_c
    variance = np.where(started, variance, 1.0)  # placeholder where the test has not started
    if method == "msprt":
        _, half_width = _mixture(difference, variance, tau=tau, alpha=alpha)
        better = difference - half_width > 0
        worse = difference + half_width < 0
    else:
        critical = float(norm.ppf(1 - alpha / 2))
        z = difference / np.sqrt(variance)
        better, worse = z > critical, z < -critical
    decisions = np.zeros(difference.shape, dtype=np.int8)
    decisions[started & better] = 1
    decisions[started & worse] = -1
    return decisions


def _draw(
    rng: np.random.Generator,
    *,
    n_simulations: int,
    n_looks: int,
    batch_size: int,
    weight: float,
    rate_control: float,
    rate_treatment: float,
) -> tuple[_IntArray, _IntArray, _IntArray, _IntArray]:
    """Cumulative rows and successes per look: (n_control, s_control, n_treatment,
    s_treatment), each of shape (n_simulations, n_looks)."""
    shape = (n_simulations, n_looks)
    n_t = rng.binomial(batch_size, weight, size=shape)
    n_c = batch_size - n_t
    s_t = rng.binomial(n_t, rate_treatment)
    s_c = rng.binomial(n_c, rate_control)
    return (
        np.cumsum(n_c, axis=1),
        np.cumsum(s_c, axis=1),
        np.cumsum(n_t, axis=1),
        np.cumsum(s_t, axis=1),
    )


def simulate_rollouts(
    *,
    true_difference: float,
    baseline: float = 0.7,
    n_simulations: int = 2000,
    batch_size: int = 200,
    weight: float = 0.5,
    max_samples: int = 20_000,
    alpha: float = 0.05,
    tau: float | None = None,
    min_effect: float = 0.02,
    min_samples: int = 30,
    method: Method = "msprt",
    seed: int = 0,
) -> SimulationResult:
    """Simulate ``n_simulations`` rollouts that look after every batch of labels.

    Args:
        true_difference: candidate accuracy minus champion accuracy.
        baseline: the champion's accuracy (a Bernoulli success rate).
        n_simulations: independent rollouts.
        batch_size: labelled rows per look, both versions together.
        weight: the candidate's share of the rows.
        max_samples: labelled rows (both versions) after which a rollout ends undecided;
            looks = ``max_samples // batch_size``.
        alpha: the test's level.
        tau: the mixture's standard deviation; ``None``: ``default_tau(min_effect=...)``.
        min_effect: the smallest difference worth detecting, used when ``tau`` is None.
        min_samples: rows per version before either method may decide.
        method: ``"msprt"`` or ``"naive"`` (the z-test read at every look).
        seed: seed of ``np.random.default_rng``.

    Returns:
        A :class:`SimulationResult`.

    Raises:
        ValueError: an argument is out of range; the message names it.
    """
    _check_alpha(alpha)
    if method not in ("msprt", "naive"):
        raise ValueError(f"method: expected 'msprt' or 'naive', got {method!r}")
    if not 0 < baseline < 1:
        raise ValueError(f"baseline: expected an accuracy between 0 and 1, got {baseline}")
    if not 0 <= baseline + true_difference <= 1:
        raise ValueError(
            f"true_difference: baseline + true_difference must be an accuracy in [0, 1], got "
            f"{baseline} + {true_difference}"
        )
    if n_simulations < 1:
        raise ValueError(f"n_simulations: expected at least 1, got {n_simulations}")
    if batch_size < 1:
        raise ValueError(f"batch_size: expected at least 1 row per look, got {batch_size}")
    if not 0 < weight < 1:
        raise ValueError(f"weight: expected the candidate's share between 0 and 1, got {weight}")
    if max_samples < batch_size:
        raise ValueError(
            f"max_samples: expected at least one batch ({batch_size} rows), got {max_samples}"
        )
    if min_samples < 2:
        raise ValueError(f"min_samples: expected at least 2, got {min_samples}")
    scale = default_tau(min_effect=min_effect, alpha=alpha) if tau is None else tau
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"tau: expected a finite mixing standard deviation > 0, got {tau}")

    n_looks = max_samples // batch_size
    n_c, s_c, n_t, s_t = _draw(
        np.random.default_rng(seed),
        n_simulations=n_simulations,
        n_looks=n_looks,
        batch_size=batch_size,
        weight=weight,
        rate_control=baseline,
        rate_treatment=baseline + true_difference,
    )
    # 0/1 values: the sum of squares is the sum.
    sums_c, sums_t = s_c.astype(float), s_t.astype(float)
    decisions = _look_decisions(
        n_c,
        sums_c,
        sums_c,
        n_t,
        sums_t,
        sums_t,
        method=method,
        alpha=alpha,
        tau=scale,
        min_samples=min_samples,
    )
    decided_at = decisions != 0
    decided = decided_at.any(axis=1)
    first = np.argmax(decided_at, axis=1)
    outcome = np.where(decided, decisions[np.arange(n_simulations), first], 0)
    samples = (first[decided] + 1) * batch_size

    promotions = float(np.mean(outcome == 1))
    rollbacks = float(np.mean(outcome == -1))
    if true_difference > 0:
        power: float | None = promotions
    elif true_difference < 0:
        power = rollbacks
    else:
        power = None
    return SimulationResult(
        method=method,
        n_simulations=n_simulations,
        true_difference=true_difference,
        baseline=baseline,
        batch_size=batch_size,
        max_samples=n_looks * batch_size,
        alpha=alpha,
        tau=scale if method == "msprt" else None,
        promotions=promotions,
        rollbacks=rollbacks,
        undecided=float(np.mean(outcome == 0)),
        wrong_promotions=promotions if true_difference <= 0 else 0.0,
        wrong_rollbacks=rollbacks if true_difference >= 0 else 0.0,
        power=power,
        median_samples_to_decision=float(np.median(samples)) if samples.size else None,
    )
