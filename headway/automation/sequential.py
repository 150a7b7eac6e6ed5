"""Always-valid comparison of a candidate with the champion on live traffic.

Each labelled prediction gives one per-row value of the online metric (1/0 for a correct
class, the absolute error of a regression, ...). The rollout controller summarises each
version's values as :class:`Moments` and asks, after every batch of new labels, whether the
candidate (treatment) differs from the champion (control). Because it asks again and again,
a fixed-horizon test would be wrong far more often than its nominal level; the test here is
the mixture sequential probability ratio test (mSPRT) of Johari, Pekelis and Walsh, "Always
valid inference: continuous monitoring of A/B tests" (Operations Research, 2022), which stays
valid however often it is read.

With ``d`` the difference of the means (treatment minus control), ``V = s_c^2/n_c +
s_t^2/n_t`` its plug-in variance, and a normal mixture ``N(0, tau^2)`` over the true
difference ``theta``, the likelihood ratio against ``theta = 0`` is::

    LR = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

Its running maximum bounds the chance of ever crossing ``1/alpha`` under ``theta = 0`` by
``alpha`` (Ville's inequality), so ``p = min over looks of 1/LR`` is an always-valid p-value,
and the values of ``theta`` not rejected form the confidence sequence::

    d +/- sqrt(V (V + tau^2) / tau^2 * (2 log(1/alpha) + log((V + tau^2) / V)))

which holds the true difference at every look at once with probability at least
``1 - alpha``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.stats import norm

__all__ = [
    "Decision",
    "Moments",
    "SequentialEvidence",
    "ab_summary",
    "decide",
    "default_tau",
    "labels_for_power",
    "msprt",
    "naive_z_test",
]

Decision = Literal["better", "worse", "undecided"]

#: Fixed-horizon confidence level of the ``ab`` report's interval.
_FIXED_LEVEL = 0.95


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations of one version's per-row metric values.

    Two summaries of disjoint rows combine with :meth:`merge`, so the controller can add a
    new batch to what it had, or recompute from the prediction log in chunks.
    """

    n: int
    mean: float
    m2: float

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n: a count of values cannot be negative, got {self.n}")
        if not math.isfinite(self.mean):
            raise ValueError(f"mean: expected a finite number, got {self.mean}")
        if not (math.isfinite(self.m2) and self.m2 >= 0):
            raise ValueError(
                f"m2: the sum of squared deviations must be finite and >= 0, got {self.m2}"
            )

    @property
    def variance(self) -> float:
        """Sample variance (divisor ``n - 1``); 0 with fewer than two values."""
        return self.m2 / (self.n - 1) if self.n >= 2 else 0.0

    @classmethod
    def of(cls, values: npt.ArrayLike) -> Moments:
        """Summarise ``values`` (any array-like of finite numbers; empty gives ``n = 0``).

        Raises:
            ValueError: a value is missing or infinite.
        """
        array = np.asarray(values, dtype=float).ravel()
        if array.size == 0:
            return cls(n=0, mean=0.0, m2=0.0)
        if not np.isfinite(array).all():
            raise ValueError(
                "values: every per-row metric value must be finite; drop rows without a "
                "label or score before summarising"
            )
        mean = float(array.mean())
        return cls(n=int(array.size), mean=mean, m2=float(np.square(array - mean).sum()))

    @classmethod
    def from_sums(cls, *, n: int, total: float, total_of_squares: float) -> Moments:
        """Summarise from ``count``, ``sum`` and ``sum of squares`` (e.g. one SQL query).

        Less exact than :meth:`of` when the mean is large against the spread; fine for
        0/1 values and errors.
        """
        if n < 0:
            raise ValueError(f"n: a count of values cannot be negative, got {n}")
        if n == 0:
            return cls(n=0, mean=0.0, m2=0.0)
        mean = total / n
        # Rounding can push a zero spread slightly below zero.
        return cls(n=n, mean=mean, m2=max(0.0, total_of_squares - total * mean))

    def merge(self, other: Moments) -> Moments:
        """The summary of both sets of values (Chan, Golub and LeVeque's pairwise update)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(
            n=n,
            mean=self.mean + delta * other.n / n,
            m2=self.m2 + other.m2 + delta * delta * self.n * other.n / n,
        )


@dataclass(frozen=True)
class SequentialEvidence:
    """One look of the mSPRT: the estimate, the always-valid p-value and interval.

    Before the test starts (either version has fewer than ``min_samples`` values, or the
    variance of the difference is 0) the likelihood ratio is 1 (``log_likelihood_ratio``
    0), the p-value is carried over from the previous look, and the interval is
    ``(-inf, inf)``: nothing is ruled out. ``mean_*`` is ``None`` for a version without
    values, ``difference`` when either has none, ``std_error`` when either has fewer than
    two.
    """

    n_control: int
    n_treatment: int
    mean_control: float | None
    mean_treatment: float | None
    difference: float | None
    std_error: float | None
    log_likelihood_ratio: float
    p_value: float
    ci_low: float
    ci_high: float
    alpha: float
    tau: float

    @property
    def started(self) -> bool:
        """Whether this look had enough data to test (the interval is finite)."""
        return math.isfinite(self.ci_low) and math.isfinite(self.ci_high)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every float finite or ``None`` (the unbounded interval is ``None``)."""

        def finite(value: float | None) -> float | None:
            return value if value is not None and math.isfinite(value) else None

        return {
            "n_control": self.n_control,
            "n_treatment": self.n_treatment,
            "mean_control": finite(self.mean_control),
            "mean_treatment": finite(self.mean_treatment),
            "difference": finite(self.difference),
            "std_error": finite(self.std_error),
            "log_likelihood_ratio": finite(self.log_likelihood_ratio),
            "p_value": finite(self.p_value),
            "ci_low": finite(self.ci_low),
            "ci_high": finite(self.ci_high),
            "alpha": self.alpha,
            "tau": self.tau,
            "started": self.started,
        }


def _mixture(difference: Any, variance: Any, *, tau: float, alpha: float) -> tuple[Any, Any]:
    """Log likelihood ratio and half-width of the confidence sequence.

    Works on floats and on NumPy arrays alike (the simulation calls it on every look of
    every run at once); ``variance`` must be > 0.
    """
    tau2 = tau * tau
    total = variance + tau2
    log_lr = 0.5 * np.log(variance / total) + tau2 * difference**2 / (2 * variance * total)
    half_width = np.sqrt(
        variance * total / tau2 * (2 * math.log(1 / alpha) + np.log(total / variance))
    )
    return log_lr, half_width


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a level between 0 and 1 (e.g. 0.05), got {alpha}")


def msprt(
    control: Moments,
    treatment: Moments,
    *,
    alpha: float = 0.05,
    tau: float,
    previous_p_value: float = 1.0,
    min_samples: int = 30,
) -> SequentialEvidence:
    """One look of the normal-mixture SPRT of ``treatment - control``.

    Args:
        control: the champion's per-row metric values so far.
        treatment: the candidate's per-row metric values so far.
        alpha: the chance of ever excluding the true difference, over all looks.
        tau: standard deviation of the normal mixture over the difference, in the metric's
            units: about the smallest effect worth detecting (see :func:`default_tau`).
        previous_p_value: the p-value of the previous look (1 at the first): the p-value
            is the running minimum of ``1/LR``, so it never rises.
        min_samples: values each version needs before the test starts; the normal
            approximation with plug-in variances is poor below a few dozen.

    Returns:
        The :class:`SequentialEvidence` of this look.

    Raises:
        ValueError: an argument is out of range; the message names it.

    Example:
        >>> a = Moments.of([1, 0, 1, 1] * 50)
        >>> b = Moments.of([1, 1, 1, 0] * 50)
        >>> msprt(a, b, tau=0.05).p_value
        1.0
    """
    _check_alpha(alpha)
    if not (math.isfinite(tau) and tau > 0):
        raise ValueError(f"tau: expected a finite mixing standard deviation > 0, got {tau}")
    if not 0 <= previous_p_value <= 1:
        raise ValueError(f"previous_p_value: expected a p-value in [0, 1], got {previous_p_value}")
    if min_samples < 2:
        raise ValueError(
            f"min_samples: at least 2 values per version are needed for a variance, "
            f"got {min_samples}"
        )
    for name, moments in (("control", control), ("treatment", treatment)):
        if not isinstance(moments, Moments):
            raise ValueError(f"{name}: expected Moments, got {type(moments).__name__}")

    n_c, n_t = control.n, treatment.n
    mean_c = control.mean if n_c else None
    mean_t = treatment.mean if n_t else None
    difference = treatment.mean - control.mean if n_c and n_t else None
    variance = control.variance / n_c + treatment.variance / n_t if n_c and n_t else 0.0
    std_error = math.sqrt(variance) if n_c >= 2 and n_t >= 2 else None

    if difference is None or min(n_c, n_t) < min_samples or variance <= 0:
        log_lr, p_value, low, high = 0.0, previous_p_value, -math.inf, math.inf
    else:
        log_lr_value, half_width = _mixture(difference, variance, tau=tau, alpha=alpha)
        log_lr = float(log_lr_value)
        p_value = min(previous_p_value, math.exp(-log_lr) if log_lr > 0 else 1.0)
        low, high = difference - float(half_width), difference + float(half_width)

    return SequentialEvidence(
        n_control=n_c,
        n_treatment=n_t,
        mean_control=mean_c,
        mean_treatment=mean_t,
        difference=difference,
        std_error=std_error,
        log_likelihood_ratio=log_lr,
        p_value=p_value,
        ci_low=low,
        ci_high=high,
        alpha=alpha,
        tau=tau,
    )


def decide(
    evidence: SequentialEvidence, *, higher_is_better: bool, margin: float = 0.0
) -> Decision:
    """Read one look of the test as a rollout decision.

    ``"better"``: the whole confidence sequence lies beyond ``margin`` on the better side
    (``ci_low > margin`` when higher is better, ``ci_high < -margin`` otherwise): advance
    or promote. ``"worse"``: it lies entirely on the worse side of zero: roll back.
    ``"undecided"``: keep collecting labels.

    The sequence is two-sided at level ``alpha`` and holds the true difference at every
    look at once with probability ``1 - alpha``, so when the versions are equally good
    the chance of *any* wrong decision, however often this is called, is at most
    ``alpha``. Stop at the first decision: later looks are not needed.

    Raises:
        ValueError: ``margin`` is negative or not finite.
    """
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(
            f"margin: expected a finite improvement >= 0 in the metric's units, got {margin}"
        )
    if not evidence.started:
        return "undecided"
    if higher_is_better:
        if evidence.ci_low > margin:
            return "better"
        if evidence.ci_high < 0:
            return "worse"
    else:
        if evidence.ci_high < -margin:
            return "better"
        if evidence.ci_low > 0:
            return "worse"
    return "undecided"


def _optimal_ratio(alpha: float) -> float:
    """``r = tau^2 / V`` that makes the confidence sequence narrowest for a given ``V``.

    Minimising ``(1 + 1/r) (2 log(1/alpha) + log(1 + r))`` over ``r`` gives
    ``r = 2 log(1/alpha) + log(1 + r)`` (about 8.2 at alpha 0.05), solved by iteration
    (a contraction: the slope of ``log(1 + r)`` is below 1).
    """
    base = 2 * math.log(1 / alpha)
    ratio = base
    for _ in range(100):
        ratio = base + math.log1p(ratio)
    return ratio


def default_tau(*, min_effect: float, alpha: float = 0.05) -> float:
    """Mixing standard deviation tuned to detect ``min_effect`` as early as possible.

    For a given variance ``V`` of the difference, the confidence sequence is narrowest
    when ``tau^2 = r V`` with ``r`` solving ``r = 2 log(1/alpha) + log(1 + r)``; its
    half-width is then ``sqrt((1 + r) V)``. An effect of ``min_effect`` first clears it
    at ``V = min_effect^2 / (1 + r)``, so ``tau = min_effect * sqrt(r / (1 + r))``:
    about ``0.94 * min_effect`` at alpha 0.05, i.e. tau is the effect size, in the
    metric's own units. Larger effects are still found, a little later than with a tau
    made for them; a tau off by a factor of two costs little.

    Raises:
        ValueError: ``min_effect`` is not > 0, or ``alpha`` is not in (0, 1).
    """
    _check_alpha(alpha)
    if not (math.isfinite(min_effect) and min_effect > 0):
        raise ValueError(
            f"min_effect: expected the smallest difference worth detecting (> 0, in the "
            f"metric's units, e.g. 0.02 for two points of accuracy), got {min_effect}"
        )
    ratio = _optimal_ratio(alpha)
    return min_effect * math.sqrt(ratio / (1 + ratio))


def labels_for_power(
    *,
    baseline_std: float,
    min_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    weight: float = 0.5,
    tau: float | None = None,
) -> int:
    """Labelled rows (both versions together) by which ``min_effect`` is found with
    probability ``power``: a budget for a rollout.

    Solves ``min_effect - z_power * sqrt(V) = half-width(V)`` for the variance of the
    difference ``V = baseline_std^2 / (N weight (1 - weight))``: the chance that the
    confidence sequence at the last look lies beyond zero. Earlier looks can only add
    decisions, so the real power by ``N`` rows is at least this (up to the normal
    approximation). ``baseline_std`` is the per-row spread of the metric, e.g.
    ``sqrt(p (1 - p))`` for an accuracy ``p``.

    Raises:
        ValueError: an argument is out of range; the message names it.
    """
    _check_alpha(alpha)
    if not (math.isfinite(baseline_std) and baseline_std > 0):
        raise ValueError(
            f"baseline_std: expected a per-row standard deviation > 0, got {baseline_std}"
        )
    if not 0 < power < 1:
        raise ValueError(f"power: expected a probability between 0 and 1, got {power}")
    if not 0 < weight < 1:
        raise ValueError(f"weight: expected the candidate's share between 0 and 1, got {weight}")
    scale = default_tau(min_effect=min_effect, alpha=alpha) if tau is None else tau
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"tau: expected a finite mixing standard deviation > 0, got {tau}")
    z_power = float(norm.ppf(power))

    def gap(variance: float) -> float:
        _, half_width = _mixture(0.0, variance, tau=scale, alpha=alpha)
        return min_effect - z_power * math.sqrt(variance) - float(half_width)

    # gap falls from min_effect (V -> 0) and is negative at V = min_effect^2.
    variance = brentq(gap, min_effect**2 * 1e-12, min_effect**2)
    return math.ceil(baseline_std**2 / (variance * weight * (1 - weight)))


def naive_z_test(control: Moments, treatment: Moments) -> tuple[float, float, float]:
    """Fixed-horizon two-sided z-test of ``treatment - control``: ``(z, p, difference)``.

    Valid when read once, at a sample size fixed in advance (the end of an ``ab``
    rollout). Read after every batch and stopped at the first ``p < alpha``, it is wrong
    far more often than ``alpha`` (see ``bench/rollout_simulation.py``). With fewer than
    two values in a version, or no spread at all, it returns ``z = 0`` and ``p = 1``.
    """
    if min(control.n, treatment.n) == 0:
        return 0.0, 1.0, 0.0
    difference = treatment.mean - control.mean
    variance = control.variance / control.n + treatment.variance / treatment.n
    if min(control.n, treatment.n) < 2 or variance <= 0:
        return 0.0, 1.0, difference
    z = difference / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2)), difference


def ab_summary(
    control: Moments,
    treatment: Moments,
    *,
    evidence: SequentialEvidence,
    higher_is_better: bool,
) -> dict[str, Any]:
    """The ``ab`` rollout's report: lift, a fixed-horizon 95% interval and the sequential
    result, JSON-ready (snake_case keys, finite floats or ``None``).

    ``relative_lift`` is ``difference / mean_control`` (``None`` when the champion's mean
    is 0 or unknown). The fixed-horizon interval and p-value hold when the report is read
    once at the planned end; the sequential ones hold at any time.

    Raises:
        ValueError: ``evidence`` was computed on other counts than ``control`` and
            ``treatment``.
    """
    if (evidence.n_control, evidence.n_treatment) != (control.n, treatment.n):
        raise ValueError(
            f"evidence: computed on {evidence.n_control} control and {evidence.n_treatment} "
            f"treatment rows, but the summaries have {control.n} and {treatment.n}; pass "
            "the evidence of this look"
        )
    z, p_fixed, difference = naive_z_test(control, treatment)
    std_error = evidence.std_error
    fixed_low = fixed_high = None
    if control.n and treatment.n and std_error:
        critical = float(norm.ppf(0.5 + _FIXED_LEVEL / 2))
        fixed_low, fixed_high = difference - critical * std_error, difference + critical * std_error
    mean_c = evidence.mean_control
    sequential = evidence.as_dict()
    return {
        "higher_is_better": higher_is_better,
        "n_control": control.n,
        "n_treatment": treatment.n,
        "mean_control": mean_c,
        "mean_treatment": evidence.mean_treatment,
        "difference": evidence.difference,
        "relative_lift": (
            evidence.difference / mean_c if evidence.difference is not None and mean_c else None
        ),
        "fixed_ci_level": _FIXED_LEVEL,
        "fixed_ci_low": fixed_low,
        "fixed_ci_high": fixed_high,
        "fixed_z": z if std_error else None,
        "fixed_p_value": p_fixed,
        "sequential_p_value": sequential["p_value"],
        "sequential_ci_low": sequential["ci_low"],
        "sequential_ci_high": sequential["ci_high"],
        "alpha": evidence.alpha,
        "tau": evidence.tau,
        "decision": decide(evidence, higher_is_better=higher_is_better),
    }
