"""The always-valid test of a rollout: moments, the mixture SPRT against a numerical
integral, its confidence sequence, the decision, and the ab report."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from scipy import integrate
from scipy.stats import norm

from headway.automation.sequential import (
    Moments,
    SequentialEvidence,
    ab_summary,
    decide,
    default_tau,
    labels_for_power,
    msprt,
    naive_z_test,
)

# -- moments ---------------------------------------------------------------------------


def test_moments_of_small_values() -> None:
    moments = Moments.of([1, 2, 3, 4])
    assert moments.n == 4 and moments.mean == 2.5 and moments.m2 == 5.0
    assert moments.variance == pytest.approx(5 / 3)
    assert Moments.of([]) == Moments(n=0, mean=0.0, m2=0.0)
    assert Moments.of([7.0]).variance == 0.0


@pytest.mark.parametrize("split", [0, 1, 17, 100])
def test_merge_equals_the_moments_of_the_concatenation(split: int) -> None:
    values = np.random.default_rng(3).normal(10, 2, 100)
    merged = Moments.of(values[:split]).merge(Moments.of(values[split:]))
    whole = Moments.of(values)
    assert merged.n == whole.n
    assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
    assert merged.m2 == pytest.approx(whole.m2, rel=1e-10)


def test_from_sums_equals_of() -> None:
    values = np.random.default_rng(4).integers(0, 2, 500).astype(float)
    from_sums = Moments.from_sums(
        n=500, total=float(values.sum()), total_of_squares=float((values**2).sum())
    )
    assert from_sums.mean == pytest.approx(Moments.of(values).mean)
    assert from_sums.m2 == pytest.approx(Moments.of(values).m2)
    assert Moments.from_sums(n=0, total=0.0, total_of_squares=0.0).n == 0


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: Moments(n=-1, mean=0.0, m2=0.0), "n"),
        (lambda: Moments(n=3, mean=math.nan, m2=0.0), "mean"),
        (lambda: Moments(n=3, mean=0.0, m2=-1.0), "m2"),
        (lambda: Moments.of([1.0, math.nan]), "values"),
    ],
)
def test_bad_moments_name_the_argument(make: object, name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}:"):
        make()  # type: ignore[operator]


# -- the mixture SPRT ------------------------------------------------------------------

CONTROL = Moments.of([0, 1] * 100)  # n 200, mean 0.5, m2 50
TREATMENT = Moments.of([1, 1, 1, 0] * 50)  # n 200, mean 0.75, m2 37.5
VARIANCE = (50 / 199) / 200 + (37.5 / 199) / 200  # of the difference


def _integrated_lr(difference: float, variance: float, tau: float) -> float:
    """The mixture likelihood ratio by numerical integration over theta ~ N(0, tau^2)."""
    sd = math.sqrt(variance)
    mixture, _ = integrate.quad(
        lambda theta: norm.pdf(difference, theta, sd) * norm.pdf(theta, 0, tau),
        -10 * tau,
        10 * tau,
        points=[difference],
    )
    return float(mixture / norm.pdf(difference, 0, sd))


def test_msprt_agrees_with_a_hand_computation() -> None:
    tau = 0.1
    evidence = msprt(CONTROL, TREATMENT, tau=tau, min_samples=30)
    variance = VARIANCE
    assert evidence.difference == pytest.approx(0.25)
    assert evidence.std_error == pytest.approx(math.sqrt(variance))
    lr = _integrated_lr(0.25, variance, tau)
    assert evidence.log_likelihood_ratio == pytest.approx(math.log(lr), rel=1e-6)
    assert evidence.p_value == pytest.approx(min(1.0, 1 / lr), rel=1e-6)
    assert evidence.p_value < 0.05  # a 25-point difference on 200 rows each

    # The interval's ends are the differences a test at level alpha just fails to reject:
    # the mixture ratio of the data shifted by the end is exactly 1/alpha.
    for end in (evidence.ci_low, evidence.ci_high):
        assert _integrated_lr(0.25 - end, variance, tau) == pytest.approx(1 / 0.05, rel=1e-6)
    assert evidence.ci_low > 0 and evidence.started


def test_msprt_waits_for_min_samples_and_spread() -> None:
    few = msprt(Moments.of([0, 1] * 10), TREATMENT, tau=0.1, previous_p_value=0.3)
    assert not few.started
    assert few.p_value == 0.3 and few.log_likelihood_ratio == 0.0
    assert (few.ci_low, few.ci_high) == (-math.inf, math.inf)
    assert few.as_dict()["ci_low"] is None and few.as_dict()["ci_high"] is None
    assert decide(few, higher_is_better=True) == "undecided"

    flat = msprt(Moments.of([1.0] * 50), Moments.of([1.0] * 50), tau=0.1)
    assert not flat.started and flat.p_value == 1.0

    empty = msprt(Moments.of([]), TREATMENT, tau=0.1)
    assert empty.mean_control is None and empty.difference is None
    assert json.dumps(empty.as_dict(), allow_nan=False)


def test_p_value_never_rises_and_the_interval_holds_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    control, treatment = Moments.of([]), Moments.of([])
    p_values = []
    decided_at = None
    previous = 1.0
    for look in range(60):
        control = control.merge(Moments.of(rng.normal(1.0, 1.0, 50)))
        treatment = treatment.merge(Moments.of(rng.normal(1.3, 1.0, 50)))
        evidence = msprt(control, treatment, tau=0.3, previous_p_value=previous)
        previous = evidence.p_value
        p_values.append(evidence.p_value)
        assert evidence.ci_low <= 0.3 <= evidence.ci_high
        if decided_at is None and decide(evidence, higher_is_better=True) == "better":
            decided_at = look
    assert all(later <= earlier for earlier, later in itertools.pairwise(p_values))
    assert 0 < p_values[-1] < 1e-6 and decided_at is not None


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.0}, "alpha"),
        ({"tau": 0.0}, "tau"),
        ({"tau": math.nan}, "tau"),
        ({"previous_p_value": 1.5}, "previous_p_value"),
        ({"min_samples": 1}, "min_samples"),
    ],
)
def test_bad_msprt_arguments_name_the_argument(kwargs: dict[str, float], name: str) -> None:
    arguments: dict[str, float] = {"tau": 0.1, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}:"):
        msprt(CONTROL, TREATMENT, **arguments)  # type: ignore[arg-type]


def test_msprt_refuses_what_is_not_moments() -> None:
    with pytest.raises(ValueError, match=r"^control:"):
        msprt([0, 1], TREATMENT, tau=0.1)  # type: ignore[arg-type]


# -- decisions -------------------------------------------------------------------------


def _evidence(low: float, high: float) -> SequentialEvidence:
    return SequentialEvidence(
        n_control=100,
        n_treatment=100,
        mean_control=0.5,
        mean_treatment=0.5 + (low + high) / 2,
        difference=(low + high) / 2,
        std_error=0.01,
        log_likelihood_ratio=0.0,
        p_value=1.0,
        ci_low=low,
        ci_high=high,
        alpha=0.05,
        tau=0.02,
    )


@pytest.mark.parametrize(
    ("low", "high", "higher", "margin", "expected"),
    [
        (0.01, 0.05, True, 0.0, "better"),
        (0.01, 0.05, True, 0.02, "undecided"),
        (0.03, 0.05, True, 0.02, "better"),
        (-0.05, -0.01, True, 0.0, "worse"),
        (-0.05, -0.01, True, 0.02, "worse"),
        (-0.01, 0.01, True, 0.0, "undecided"),
        (-0.05, -0.01, False, 0.0, "better"),
        (-0.05, -0.01, False, 0.02, "undecided"),
        (-0.05, -0.03, False, 0.02, "better"),
        (0.01, 0.05, False, 0.0, "worse"),
        (-0.01, 0.01, False, 0.0, "undecided"),
    ],
)
def test_decide_reads_the_interval(
    low: float, high: float, higher: bool, margin: float, expected: str
) -> None:
    assert decide(_evidence(low, high), higher_is_better=higher, margin=margin) == expected


def test_decide_refuses_a_negative_margin() -> None:
    with pytest.raises(ValueError, match=r"^margin:"):
        decide(_evidence(0.01, 0.05), higher_is_better=True, margin=-0.01)


# -- tuning ----------------------------------------------------------------------------


def _half_width(variance: float, tau: float, alpha: float = 0.05) -> float:
    total = variance + tau**2
    return math.sqrt(
        variance * total / tau**2 * (2 * math.log(1 / alpha) + math.log(total / variance))
    )


def test_default_tau_makes_the_interval_narrowest_where_the_effect_is_detected() -> None:
    tau = default_tau(min_effect=0.02)
    assert tau == pytest.approx(0.944 * 0.02, rel=1e-3)
    # the variance at which a 0.02 effect first clears the interval with this tau ...
    ratio = tau**2 / (0.02**2 - tau**2)  # tau^2 = ratio * variance
    variance = 0.02**2 / (1 + ratio)
    assert ratio == pytest.approx(8.2, abs=0.05)
    assert _half_width(variance, tau) == pytest.approx(0.02, rel=1e-9)
    # ... where any other tau gives a wider interval
    for other in (tau / 2, tau * 0.9, tau * 1.1, tau * 2):
        assert _half_width(variance, other) > _half_width(variance, tau)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"min_effect": 0.0}, "min_effect"), ({"min_effect": 0.02, "alpha": 2.0}, "alpha")],
)
def test_bad_default_tau_arguments(kwargs: dict[str, float], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name}:"):
        default_tau(**kwargs)


def test_labels_for_power_scales_with_the_inverse_square_of_the_effect() -> None:
    std = math.sqrt(0.7 * 0.3)
    small = labels_for_power(baseline_std=std, min_effect=0.02)
    large = labels_for_power(baseline_std=std, min_effect=0.04)
    assert 25_000 < small < 40_000
    assert large == pytest.approx(small / 4, abs=2)
    assert labels_for_power(baseline_std=std, min_effect=0.02, power=0.9) > small
    assert labels_for_power(baseline_std=std, min_effect=0.02, weight=0.1) > small
    with pytest.raises(ValueError, match=r"^power:"):
        labels_for_power(baseline_std=std, min_effect=0.02, power=1.0)
    with pytest.raises(ValueError, match=r"^baseline_std:"):
        labels_for_power(baseline_std=0.0, min_effect=0.02)


# -- the fixed-horizon test and the ab report -----------------------------------------


def test_naive_z_test_by_hand() -> None:
    z, p, difference = naive_z_test(CONTROL, TREATMENT)
    expected_z = 0.25 / math.sqrt(VARIANCE)
    assert difference == pytest.approx(0.25)
    assert z == pytest.approx(expected_z)
    assert p == pytest.approx(2 * norm.sf(expected_z))
    assert naive_z_test(Moments.of([1.0] * 5), Moments.of([1.0] * 5)) == (0.0, 1.0, 0.0)
    assert naive_z_test(Moments.of([]), TREATMENT) == (0.0, 1.0, 0.0)


def test_ab_summary() -> None:
    evidence = msprt(CONTROL, TREATMENT, tau=0.1)
    summary = ab_summary(CONTROL, TREATMENT, evidence=evidence, higher_is_better=True)
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert summary["difference"] == pytest.approx(0.25)
    assert summary["relative_lift"] == pytest.approx(0.5)
    se = math.sqrt(VARIANCE)
    assert summary["fixed_ci_low"] == pytest.approx(0.25 - 1.959964 * se)
    assert summary["fixed_ci_high"] == pytest.approx(0.25 + 1.959964 * se)
    # the always-valid interval is wider than the fixed-horizon one
    assert summary["sequential_ci_low"] < summary["fixed_ci_low"]
    assert summary["sequential_p_value"] == evidence.p_value
    assert summary["decision"] == "better"

    centred = Moments.of([-1.0, 1.0] * 100)  # a champion whose mean is 0
    evidence = msprt(centred, TREATMENT, tau=0.1)
    lower = ab_summary(centred, TREATMENT, evidence=evidence, higher_is_better=False)
    assert lower["relative_lift"] is None and lower["decision"] == "worse"

    with pytest.raises(ValueError, match=r"^evidence:"):
        ab_summary(CONTROL, TREATMENT.merge(TREATMENT), evidence=evidence, higher_is_better=True)
