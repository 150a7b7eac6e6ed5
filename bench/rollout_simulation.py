"""Rollout decisions under continuous monitoring: headway's mSPRT against a z-test read
after every batch.

Simulated rollouts of a candidate against a champion of accuracy ``--baseline`` (0.7):
``--batch-size`` labelled rows per look (200), half of them the candidate's, a decision
after every batch, stopping at the first, undecided after ``--max-samples`` rows of both
versions (40,000: the default ``rollout.max_labels`` of 20,000 candidate rows at an even
split). Three truths: no difference (A/A), the candidate 2 points better, 2 points worse.
Two methods: ``msprt`` (headway's always-valid test, alpha 0.05, tau from ``min_effect``
0.02) and ``naive`` (a two-sided z-test at 0.05, stopped at its first ``p < 0.05``).

Reported per row: wrong promotions and wrong rollbacks (rates), power (the rate of the right
decision when there is a difference), and the median labelled rows at a decision. Also the
budget ``labels_for_power`` plans for a 2-point effect at 80% power.

    python bench/rollout_simulation.py                      # 5,000 simulations per row
    python bench/rollout_simulation.py --simulations 20000 --seed 1
    python bench/rollout_simulation.py --json               # the rows as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time

from headway.automation.sequential import default_tau, labels_for_power
from headway.automation.simulation import SimulationResult, simulate_rollouts

EFFECT = 0.02


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(results: list[SimulationResult]) -> str:
    lines = [
        "| method | true difference | wrong promotions | wrong rollbacks | power "
        "| median samples to decision |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        median = result.median_samples_to_decision
        lines.append(
            f"| {result.method} | {result.true_difference:+.2f} "
            f"| {_rate(result.wrong_promotions)} | {_rate(result.wrong_rollbacks)} "
            f"| {_rate(result.power)} | {'-' if median is None else f'{median:,.0f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=5000, help="rollouts per row")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first row")
    parser.add_argument("--baseline", type=float, default=0.7, help="the champion's accuracy")
    parser.add_argument("--batch-size", type=int, default=200, help="labelled rows per look")
    parser.add_argument(
        "--max-samples", type=int, default=40_000, help="labelled rows (both versions) per rollout"
    )
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    results = []
    for offset, (difference, method) in enumerate(
        (d, m) for d in (0.0, EFFECT, -EFFECT) for m in ("msprt", "naive")
    ):
        results.append(
            simulate_rollouts(
                true_difference=difference,
                baseline=args.baseline,
                n_simulations=args.simulations,
                batch_size=args.batch_size,
                max_samples=args.max_samples,
                min_effect=EFFECT,
                method=method,  # type: ignore[arg-type]
                seed=args.seed + offset,
            )
        )
    elapsed = time.perf_counter() - started
    budget = labels_for_power(
        baseline_std=math.sqrt(args.baseline * (1 - args.baseline)), min_effect=EFFECT
    )
    command = shlex.join(["python", "bench/rollout_simulation.py", *sys.argv[1:]])

    if args.json:
        print(
            json.dumps(
                {
                    "command": command,
                    "seconds": round(elapsed, 2),
                    "planned_budget_80_percent": budget,
                    "results": [result.as_dict() for result in results],
                },
                indent=2,
            )
        )
        return
    print(f"$ {command}")
    print(
        f"{args.simulations:,} simulations per row, baseline accuracy {args.baseline}, "
        f"{args.batch_size} rows per look, at most {args.max_samples:,} rows, alpha 0.05, "
        f"tau {default_tau(min_effect=EFFECT):.4f} (min_effect {EFFECT}); {elapsed:.1f} s"
    )
    print(f"labels_for_power plans {budget:,} rows for a {EFFECT} effect at 80% power\n")
    print(_table(results))


if __name__ == "__main__":
    main()
