"""The rollout simulation: the vectorised decisions match the scalar test look by look, the
mSPRT keeps its error rate under continuous monitoring where the naive z-test does not, and
a real effect is found within the budget that ``labels_for_power`` gives."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from headway.automation.sequential import (
    Moments,
    decide,
    default_tau,
    labels_for_power,
    msprt,
    naive_z_test,
)
from headway.automation.simulation import Method, _draw, _look_decisions, simulate_rollouts

N = 1000  # simulations per test: a Monte-Carlo standard error of about 0.7 points at 5%
ALPHA = 0.05
CODES = {"better": 1, "worse": -1, "undecided": 0}


@pytest.mark.parametrize("method", ["msprt", "naive"])
def test_array_decisions_match_the_scalar_test(method: Method) -> None:
    tau = default_tau(min_effect=0.02)
    n_c, s_c, n_t, s_t = _draw(
        np.random.default_rng(5),
        n_simulations=12,
        n_looks=40,
        batch_size=100,
        weight=0.3,
        rate_control=0.7,
        rate_treatment=0.76,
    )
    fc, ft = s_c.astype(float), s_t.astype(float)
    codes = _look_decisions(
        n_c, fc, fc, n_t, ft, ft, method=method, alpha=ALPHA, tau=tau, min_samples=30
    )
    assert (codes == 1).any()  # the paths reach decisions, so the comparison means something
    for run in range(12):
        for look in range(40):
            control = Moments.from_sums(
                n=int(n_c[run, look]),
                total=float(s_c[run, look]),
                total_of_squares=float(s_c[run, look]),
            )
            treatment = Moments.from_sums(
                n=int(n_t[run, look]),
                total=float(s_t[run, look]),
                total_of_squares=float(s_t[run, look]),
            )
            if method == "msprt":
                evidence = msprt(control, treatment, alpha=ALPHA, tau=tau)
                expected = CODES[decide(evidence, higher_is_better=True)]
            else:
                z, p, _ = naive_z_test(control, treatment)
                expected = int(np.sign(z)) if p < ALPHA else 0
            assert codes[run, look] == expected, (run, look)


def test_a_a_msprt_stays_within_alpha_and_the_naive_test_does_not() -> None:
    sequential, naive = (
        simulate_rollouts(
            true_difference=0.0, n_simulations=N, max_samples=20_000, method=method, seed=1
        )
        for method in ("msprt", "naive")
    )
    slack = 3 * math.sqrt(ALPHA * (1 - ALPHA) / N)
    wrong_sequential = sequential.wrong_promotions + sequential.wrong_rollbacks
    wrong_naive = naive.wrong_promotions + naive.wrong_rollbacks
    assert wrong_sequential <= ALPHA + slack
    assert wrong_naive >= 0.15  # 100 looks at a 5% test
    assert wrong_naive >= 5 * max(wrong_sequential, 0.01)
    assert sequential.power is None and naive.power is None
    # under no difference, every decision is a wrong one
    assert sequential.undecided == pytest.approx(1 - wrong_sequential)


def test_a_b_effect_is_found_within_the_planned_budget() -> None:
    budget = labels_for_power(baseline_std=math.sqrt(0.7 * 0.3), min_effect=0.02, power=0.8)
    better = simulate_rollouts(true_difference=0.02, n_simulations=N, max_samples=budget, seed=2)
    assert better.power is not None and better.power >= 0.8
    assert better.wrong_rollbacks <= 0.005
    assert better.median_samples_to_decision is not None
    assert better.median_samples_to_decision < budget

    worse = simulate_rollouts(true_difference=-0.02, n_simulations=N, max_samples=budget, seed=3)
    assert worse.power is not None and worse.power >= 0.8
    assert worse.wrong_promotions <= 0.005

    # a smaller budget finds it less often: the check can fail
    short = simulate_rollouts(true_difference=0.02, n_simulations=N, max_samples=5_000, seed=2)
    assert short.power is not None and short.power < 0.5


def test_result_is_reproducible_and_json_ready() -> None:
    first = simulate_rollouts(true_difference=0.03, n_simulations=300, seed=7)
    assert first == simulate_rollouts(true_difference=0.03, n_simulations=300, seed=7)
    assert first != simulate_rollouts(true_difference=0.03, n_simulations=300, seed=8)
    assert first.promotions + first.rollbacks + first.undecided == pytest.approx(1.0)
    assert first.tau == pytest.approx(default_tau(min_effect=0.02))
    data = first.as_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["method"] == "msprt" and data["max_samples"] == 20_000


def test_two_thousand_runs_of_a_hundred_looks_are_fast() -> None:
    started = time.perf_counter()
    simulate_rollouts(true_difference=0.0, n_simulations=2000, max_samples=20_000)
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"method": "bayes"}, "method"),
        ({"baseline": 1.0}, "baseline"),
        ({"true_difference": 0.5}, "true_difference"),
        ({"n_simulations": 0}, "n_simulations"),
        ({"batch_size": 0}, "batch_size"),
        ({"weight": 1.0}, "weight"),
        ({"max_samples": 100}, "max_samples"),
        ({"alpha": 0.0}, "alpha"),
        ({"tau": -1.0}, "tau"),
        ({"min_effect": 0.0}, "min_effect"),
        ({"min_samples": 1}, "min_samples"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict[str, object], name: str) -> None:
    arguments: dict[str, object] = {"true_difference": 0.0, **kwargs}
    with pytest.raises(ValueError, match=rf"^{name}:"):
        simulate_rollouts(**arguments)  # type: ignore[arg-type]
