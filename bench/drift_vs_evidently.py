"""Drift detection: headway against Evidently's DataDriftPreset, and detection quality on
streams with known drift points.

Speed. A seeded reference table (``--rows``, default 1,000,000, x ``--columns``, default 20:
14 numeric columns of several shapes, 6 categorical with 3 to 30 levels, nulls in one of
each) and a current table of as many rows with shifts injected in known columns (three
means moved by half a standard deviation, one spread widened by half, one category mix
changed; the rest drawn afresh from the same distributions) are written once to Parquet,
and each contender reads the same files in a process of its own:

- ``headway``: sketch every reference column (part of the work on first use), then
  ``drift_columns`` and ``dataset_drift`` on the current rows, default settings; the PCA
  reconstruction check fitted and run on 20,000-row samples is timed apart;
- ``Evidently``: ``Report([DataDriftPreset()], include_tests=True).run(current, reference)``
  with its defaults (the tests carry its own per-column verdicts), in its own virtual
  environment (Evidently 0.7 with pandas < 3; headway runs on pandas 3), made on first use
  under ``~/.cache/headway-bench/evidently-0.7``.

Wall time is measured from after the imports and the Parquet read (both reported apart) to
the verdicts; peak memory is the process's maximum resident set, and the rise of that peak
above the resident size once the tables are loaded. Prints both contenders' drifted columns,
whether they agree, the injected columns, and Evidently's time over headway's. With
``--profile``, headway's evaluation runs once more under cProfile, apart from the timed run.

Quality. Streams with a known drift point: headway's churn generator with a covariate shift
(abrupt and gradual) and a concept shift; a 20-column Gaussian table whose first column
moves by half a standard deviation; and river's synthetic drift generators (in their own
virtual environment under ``~/.cache/headway-bench/river``). Each stream has 50,000
reference rows, ``--stable-rows`` rows without drift (default 250,000) and 50,000 rows
after the drift point, cut into windows of 1,000 and 5,000 rows. A window alarms when any
column drifts under headway's default settings; the dataset verdict (half the columns
drifted) is reported too, and, for streams with labels, a drop of realised performance of
a model fitted on the reference rows (headway's ``realised`` verdict, default margin 0.02).
Reported: false alarms per 50 stable windows, and the delay in rows from the drift point to
the end of the first window that alarms.

    python bench/drift_vs_evidently.py                          # 1M rows, then the quality table
    python bench/drift_vs_evidently.py --rows 100000 --no-quality
    python bench/drift_vs_evidently.py --no-speed --stable-rows 50000 --windows 1000
    python bench/drift_vs_evidently.py --profile --markdown /tmp/drift.md
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

CACHE = Path.home() / ".cache" / "headway-bench"
EVIDENTLY_VENV = CACHE / "evidently-0.7"
EVIDENTLY_PACKAGES = ["evidently>=0.7,<0.8", "pandas<3", "pyarrow"]
RIVER_VENV = CACHE / "river"
RIVER_PACKAGES = ["river", "pandas", "pyarrow"]
TIMEOUT_S = 3600  # one contender on 1M rows takes minutes, never an hour

# -- the speed tables ------------------------------------------------------------------


@dataclass(frozen=True)
class Spec:
    """One generated column: how the reference draws it, and the current's draw when a
    shift is injected there (``None``: the current draws from the same distribution)."""

    name: str
    make: Callable[[np.random.Generator, int], Any]
    shifted: Callable[[np.random.Generator, int], Any] | None = None
    change: str = ""


def _categories(
    rng: np.random.Generator, n: int, levels: int, p: list[float] | None = None, nulls: float = 0
) -> np.ndarray:
    names = np.asarray([f"v{i:02d}" for i in range(levels)], dtype=object)
    p_arr = np.asarray(p if p is not None else 1 / np.arange(1, levels + 1), dtype=float)
    values = names[rng.choice(levels, size=n, p=p_arr / p_arr.sum())]
    if nulls:
        values[rng.random(n) < nulls] = None
    return values


def _with_nulls(values: np.ndarray, rng: np.random.Generator, rate: float) -> np.ndarray:
    values = values.astype(float)
    values[rng.random(len(values)) < rate] = np.nan
    return values


# lognormal(3, 0.6) has standard deviation exp(3.18) * sqrt(exp(0.36) - 1), about 16.0
_LOGNORMAL_SD = float(np.exp(3 + 0.6**2 / 2) * np.sqrt(np.exp(0.6**2) - 1))

SPECS: list[Spec] = [
    Spec(
        "amount_normal",
        lambda r, n: r.normal(100, 15, n),
        lambda r, n: r.normal(107.5, 15, n),
        "mean +0.5 SD",
    ),
    Spec(
        "channel",
        lambda r, n: _categories(r, n, 3, [0.6, 0.3, 0.1]),
        lambda r, n: _categories(r, n, 3, [0.4, 0.35, 0.25]),
        "shares 60/30/10 -> 40/35/25",
    ),
    Spec(
        "latency_lognormal",
        lambda r, n: r.lognormal(3, 0.6, n),
        lambda r, n: r.lognormal(3, 0.6, n) + 0.5 * _LOGNORMAL_SD,
        "mean +0.5 SD",
    ),
    Spec("visits_count", lambda r, n: r.poisson(3, n)),
    Spec(
        "balance_with_nulls",
        lambda r, n: _with_nulls(r.normal(500, 120, n), r, 0.1),
        lambda r, n: _with_nulls(r.normal(440, 120, n), r, 0.1),
        "mean -0.5 SD",
    ),
    Spec("region", lambda r, n: _categories(r, n, 8)),
    Spec(
        "temperature_normal",
        lambda r, n: r.normal(20, 5, n),
        lambda r, n: r.normal(20, 7.5, n),
        "SD x1.5",
    ),
    Spec("income_lognormal", lambda r, n: r.lognormal(10, 0.8, n)),
    Spec("items_count", lambda r, n: r.poisson(12, n)),
    Spec("device_with_nulls", lambda r, n: _categories(r, n, 5, nulls=0.05)),
    Spec("rating_1_to_5", lambda r, n: r.integers(1, 6, n)),
    Spec("age_uniform", lambda r, n: r.uniform(18, 80, n)),
    Spec("plan", lambda r, n: _categories(r, n, 4, [0.4, 0.3, 0.2, 0.1])),
    Spec("ratio_beta", lambda r, n: r.beta(2, 5, n)),
    Spec("duration_exponential", lambda r, n: r.exponential(30, n)),
    Spec("city", lambda r, n: _categories(r, n, 30)),
    Spec(
        "discount_zero_inflated",
        lambda r, n: np.where(r.random(n) < 0.6, 0.0, r.gamma(2, 10, n)),
    ),
    Spec("weight_normal", lambda r, n: r.normal(70, 12, n)),
    Spec("segment", lambda r, n: _categories(r, n, 12)),
    Spec("score_normal", lambda r, n: r.normal(0, 1, n)),
]


def table_specs(columns: int) -> list[tuple[str, Spec]]:
    """``columns`` columns: the 20 specs in order, repeated with a suffix past 20."""
    out = []
    for i in range(columns):
        spec = SPECS[i % len(SPECS)]
        round_ = i // len(SPECS)
        out.append((spec.name if round_ == 0 else f"{spec.name}_{round_ + 1}", spec))
    return out


def make_tables(rows: int, columns: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference and the current table (shifts injected where a spec has one)."""
    specs = table_specs(columns)
    ref_rng = np.random.default_rng([seed, 1])
    cur_rng = np.random.default_rng([seed, 2])
    reference = pd.DataFrame({name: spec.make(ref_rng, rows) for name, spec in specs})
    current = pd.DataFrame(
        {name: (spec.shifted or spec.make)(cur_rng, rows) for name, spec in specs}
    )
    return reference, current


def injected(columns: int) -> dict[str, str]:
    return {name: spec.change for name, spec in table_specs(columns) if spec.shifted}


# -- measuring a worker process ------------------------------------------------------------


def _status_mb(key: str) -> float | None:
    """A ``/proc/self/status`` memory line (VmRSS, VmHWM) in MiB, where Linux has it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the process's peak resident size to its current size (Linux's clear_refs 5),
    so that the peak measured next is the evaluation's, not the read's."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


MEASURE = r"""
import json, resource, sys, time
from pathlib import Path

def status_mb(key):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None

def reset_peak():
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False
"""

EVIDENTLY_WORKER = (
    MEASURE
    + r"""
started = time.perf_counter()
import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset
import evidently
import_s = time.perf_counter() - started

started = time.perf_counter()
reference = pd.read_parquet(sys.argv[1])
current = pd.read_parquet(sys.argv[2])
read_s = time.perf_counter() - started
loaded_mb = status_mb("VmRSS")
reset = reset_peak()

started = time.perf_counter()
# include_tests=True adds Evidently's own per-column verdict (a test per column) to the
# snapshot; the statistics computed are the same.
snapshot = Report([DataDriftPreset()], include_tests=True).run(
    current_data=current, reference_data=reference
)
doc = snapshot.dict()
wall_s = time.perf_counter() - started

methods, count = {}, None
for metric in doc.get("metrics", []):
    config = metric.get("config") or {}
    kind = str(config.get("type", ""))
    if kind.endswith("DriftedColumnsCount"):
        count = metric.get("value")
    elif kind.endswith("ValueDrift"):
        methods[config["column"]] = (
            f"{config['method']} {metric['value']:.3g} / {config['threshold']:g}"
        )
drifted = [
    test["metric_config"]["params"]["column"]
    for test in doc.get("tests", [])
    if test.get("id") == "drift" and test.get("status") == "FAIL"
]
print(json.dumps({
    "version": evidently.__version__,
    "import_s": import_s,
    "read_s": read_s,
    "wall_s": wall_s,
    "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "loaded_mb": loaded_mb,
    "eval_peak_mb": status_mb("VmHWM") if reset else None,
    "drifted": sorted(drifted),
    "methods": methods,
    "dataset": count,
}))
"""
)


def worker_headway(reference_path: str, current_path: str, profile: bool) -> dict[str, Any]:
    """headway's side of the speed table, run in a process of its own."""
    started = time.perf_counter()
    from headway.monitoring.drift import dataset_drift, drift_columns
    from headway.monitoring.multivariate import fit_reconstruction
    from headway.monitoring.sketch import sketch_column

    import_s = time.perf_counter() - started
    started = time.perf_counter()
    reference = pd.read_parquet(reference_path)
    current = pd.read_parquet(current_path)
    read_s = time.perf_counter() - started
    loaded_mb = _status_mb("VmRSS")
    reset = _reset_peak()

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    started = time.perf_counter()
    sketches = {c: sketch_column(reference[c]) for c in reference.columns}
    sketch_s = time.perf_counter() - started
    results = drift_columns(sketches, current)
    verdict = dataset_drift(results)
    wall_s = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
    eval_peak_mb = _status_mb("VmHWM") if reset else None
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    # The multivariate check as monitoring runs it: fitted on a 20,000-row reference
    # sample, here run on a 20,000-row sample of the current rows.
    started = time.perf_counter()
    numeric = [c for c, s in sketches.items() if s.kind == "numeric"]
    categorical = [c for c, s in sketches.items() if s.kind == "categorical"]
    size = min(20_000, len(reference), len(current))
    check = fit_reconstruction(reference.sample(size, random_state=0), numeric, categorical, seed=0)
    multivariate = check.check(current.sample(size, random_state=1)) if check else None
    multivariate_s = time.perf_counter() - started

    out: dict[str, Any] = {
        "import_s": import_s,
        "read_s": read_s,
        "wall_s": wall_s,
        "sketch_s": sketch_s,
        "peak_mb": peak_mb,
        "loaded_mb": loaded_mb,
        "eval_peak_mb": eval_peak_mb,
        "drifted": sorted(r.column for r in results if r.drifted),
        "methods": {r.column: f"{r.method} {r.statistic:.3g} / {r.threshold:g}" for r in results},
        "dataset": verdict,
        "multivariate_s": multivariate_s,
        "multivariate": None
        if multivariate is None
        else {k: multivariate[k] for k in ("statistic", "threshold", "drifted")},
    }
    if profiler is not None:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
        out["profile"] = text.getvalue()
    return out


def write_parquet(frame: pd.DataFrame, path: str) -> None:
    """Write ``frame`` without pandas' metadata (where pandas 3 records its own string
    dtype), so that each side reads plain Parquet types into its own pandas' defaults."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)


def venv_python(venv: Path, packages: list[str]) -> Path:
    """The interpreter of ``venv``, made and filled on first use."""
    python = venv / "bin" / "python"
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
    return python


def run_json(command: list[str]) -> dict[str, Any]:
    out = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    if out.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def speed(args: argparse.Namespace) -> list[str]:
    from rich.console import Console
    from rich.table import Table

    python = venv_python(EVIDENTLY_VENV, EVIDENTLY_PACKAGES)
    shifts = injected(args.columns)
    with tempfile.TemporaryDirectory(prefix="headway-bench-drift-") as tmp:
        started = time.perf_counter()
        reference, current = make_tables(args.rows, args.columns, args.seed)
        ref_path, cur_path = f"{tmp}/reference.parquet", f"{tmp}/current.parquet"
        write_parquet(reference, ref_path)
        write_parquet(current, cur_path)
        del reference, current
        print(f"tables generated and written in {time.perf_counter() - started:.1f} s", flush=True)
        worker = [sys.executable, __file__, "--worker", ref_path, cur_path]
        # The load average before each contender: other work on the machine slows both.
        load = {"headway": os.getloadavg()[0]}
        ours = run_json(worker)
        print(f"headway: {ours['wall_s']:.2f} s", flush=True)
        load["Evidently"] = os.getloadavg()[0]
        theirs = run_json([str(python), "-c", EVIDENTLY_WORKER, ref_path, cur_path])
        print(f"Evidently: {theirs['wall_s']:.2f} s", flush=True)
        print(f"1-minute load average before each: {load}", flush=True)
        # Profiling slows Python-level loops several-fold: a run of its own, not timed.
        profile = run_json([*worker, "--profile"])["profile"] if args.profile else None

    ratio = theirs["wall_s"] / ours["wall_s"]
    expected = set(shifts)
    title = f"reference {args.rows:,} rows x {args.columns} columns vs current {args.rows:,} rows"
    table = Table(title=title)
    header = (
        "contender",
        "wall s",
        "peak MiB (process)",
        "peak rise over loaded tables MiB",
        "drifted columns",
        "vs injected",
        "Evidently / headway",
    )
    for column in header:
        table.add_column(column, justify="right")
    rows = []
    for name, result in (("headway", ours), (f"Evidently {theirs['version']}", theirs)):
        found = set(result["drifted"])
        missed, extra = sorted(expected - found), sorted(found - expected)
        agreement = "same" if not (missed or extra) else f"missed {missed}, extra {extra}"
        rise = (
            f"{result['eval_peak_mb'] - result['loaded_mb']:,.0f}"
            if result.get("eval_peak_mb") is not None and result.get("loaded_mb") is not None
            else "-"
        )
        cells = [
            name,
            f"{result['wall_s']:.2f}",
            f"{result['peak_mb']:,.0f}",
            rise,
            f"{len(found)}: {', '.join(sorted(found))}",
            agreement,
            f"{ratio:.1f}x" if name == "headway" else "1.0x",
        ]
        rows.append(cells)
        table.add_row(*cells)
    Console(width=220).print(table)
    both = set(ours["drifted"]) ^ set(theirs["drifted"])
    print("same drifted columns in both" if not both else f"drifted columns differ: {sorted(both)}")
    print("injected:", ", ".join(f"{c} ({why})" for c, why in shifts.items()))
    print(
        f"headway: sketching the reference {ours['sketch_s']:.2f} s of {ours['wall_s']:.2f} s; "
        f"imports {ours['import_s']:.1f} s, Parquet read {ours['read_s']:.1f} s; "
        f"dataset drift {ours['dataset']['share']:.0%} of columns "
        f"(drifted: {ours['dataset']['drifted']})"
    )
    if ours["multivariate"] is not None:
        m = ours["multivariate"]
        print(
            f"headway multivariate check (20,000-row samples): {ours['multivariate_s']:.2f} s, "
            f"error {m['statistic']:.3f} vs threshold {m['threshold']:.3f}, "
            f"drifted {m['drifted']}"
        )
    print(
        f"Evidently: imports {theirs['import_s']:.1f} s, Parquet read {theirs['read_s']:.1f} s; "
        f"dataset summary {theirs['dataset']}"
    )
    print("methods per column (method statistic / threshold):")
    for column in ours["methods"]:
        print(
            f"  {column}: headway {ours['methods'][column]}; "
            f"Evidently {theirs['methods'].get(column, '-')}"
        )
    if profile is not None:
        print("headway's evaluation under cProfile (a separate run; times inflated):")
        print(profile)
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


# -- the quality table -----------------------------------------------------------------

REFERENCE_ROWS = 50_000
AFTER_ROWS = 50_000
RAMP_ROWS = 20_000  # gradual streams: the new population's share rises over these rows
LABEL = "label"

# River streams: (name, what changes, base generator, drifted generator, sigmoid width).
# ConceptDriftStream switches from one generator to the other around `position` along a
# sigmoid of `width` rows (the drifted share goes from 2% to 98% over two widths); width 0
# is an abrupt switch at the drift point.
RIVER_STREAMS: list[tuple[str, str, tuple[str, dict], tuple[str, dict], int]] = [
    (
        "river SEA, variant 0 -> 2, abrupt",
        "label rule only",
        ("SEA", {"variant": 0, "seed": 1}),
        ("SEA", {"variant": 2, "seed": 2}),
        0,
    ),
    (
        "river Agrawal, function 0 -> 2, abrupt",
        "label rule only",
        ("Agrawal", {"classification_function": 0, "seed": 1}),
        ("Agrawal", {"classification_function": 2, "seed": 2}),
        0,
    ),
    (
        f"river Agrawal, function 0 -> 2, gradual over {RAMP_ROWS:,} rows",
        "label rule only",
        ("Agrawal", {"classification_function": 0, "seed": 1}),
        ("Agrawal", {"classification_function": 2, "seed": 2}),
        RAMP_ROWS // 2,
    ),
    (
        "river Agrawal, perturbation 0 -> 0.2, abrupt",
        "inputs (noise added)",
        ("Agrawal", {"classification_function": 0, "seed": 1}),
        ("Agrawal", {"classification_function": 0, "seed": 2, "perturbation": 0.2}),
        0,
    ),
    (
        "river LED -> LEDDrift (7 features swapped), abrupt",
        "inputs and label rule",
        ("LED", {"seed": 1, "noise_percentage": 0.1, "irrelevant_features": True}),
        (
            "LEDDrift",
            {
                "seed": 2,
                "noise_percentage": 0.1,
                "irrelevant_features": True,
                "n_drift_features": 7,
            },
        ),
        0,
    ),
]

RIVER_WORKER = r"""
import itertools, json, sys
import pandas as pd
from river.datasets import synth
specs, out = json.loads(sys.argv[1]), sys.argv[2]
for i, spec in enumerate(specs):
    (base, base_kw), (drifted, drifted_kw) = spec["base"], spec["drifted"]
    before, after = getattr(synth, base)(**base_kw), getattr(synth, drifted)(**drifted_kw)
    if spec["width"] == 0:
        # Abrupt: the first generator up to the drift point, the second after it, as
        # ConceptDriftStream does when its width tends to 0 (at width 1 its sigmoid
        # overflows math.exp a few hundred rows away from the switch).
        stream = itertools.chain(itertools.islice(before, spec["position"]), after)
    else:
        stream = synth.ConceptDriftStream(
            stream=before,
            drift_stream=after,
            position=spec["position"],
            width=spec["width"],
            seed=spec["seed"],
        )
    rows = [{**x, "label": y} for x, y in itertools.islice(stream, spec["rows"])]
    frame = pd.DataFrame(rows)
    frame.columns = [str(c) for c in frame.columns]
    frame.to_parquet(f"{out}/{i}.parquet", index=False)
"""


@dataclass
class Stream:
    """Rows in arrival order: ``reference`` rows, then stable rows up to ``drift_at``,
    then the changed rows."""

    name: str
    change: str
    frame: pd.DataFrame
    drift_at: int
    label: str | None = None
    metric: str | None = None


def gaussian_stream(stable: int, seed: int) -> Stream:
    """20 independent standard normal columns; ``x00`` moves by +0.5 at the drift point."""
    rng = np.random.default_rng(seed)
    n = REFERENCE_ROWS + stable + AFTER_ROWS
    frame = pd.DataFrame(rng.normal(size=(n, 20)), columns=[f"x{i:02d}" for i in range(20)])
    frame.loc[REFERENCE_ROWS + stable :, "x00"] += 0.5
    name = "Gaussian 20 columns, x00 mean +0.5 SD"
    return Stream(name, "one input", frame, REFERENCE_ROWS + stable)


def churn_streams(stable: int, seed: int) -> list[Stream]:
    """Churn streams from the bundled stream generator: an abrupt covariate shift, a gradual
    one (the drifted population's share rising linearly over RAMP_ROWS rows) and an abrupt
    concept shift (the same inputs, a new rule for the target)."""
    from headway.datasets.stream import make_stream

    drift_at = REFERENCE_ROWS + stable
    out = []
    for name, change, drift in (
        ("churn covariate shift, abrupt", "inputs", "covariate"),
        (f"churn covariate shift, gradual over {RAMP_ROWS:,} rows", "inputs", "gradual"),
        ("churn concept shift, abrupt", "label rule only", "concept"),
    ):
        frame = make_stream(
            "churn",
            drift_at + AFTER_ROWS,
            drift=drift,  # type: ignore[arg-type]
            at=drift_at,
            width=RAMP_ROWS if drift == "gradual" else 0,
            seed=seed,
        )
        frame = frame.drop(columns=["customer_id", "observed_at"])
        frame = frame.rename(columns={"churned": LABEL})
        out.append(Stream(name, change, frame, drift_at, LABEL, "roc_auc"))
    return out


def river_streams(stable: int, seed: int, tmp: Path) -> list[Stream]:
    python = venv_python(RIVER_VENV, RIVER_PACKAGES)
    drift_at = REFERENCE_ROWS + stable
    specs = []
    for _, _, base, drifted, width in RIVER_STREAMS:
        # Gradual streams are centred 1.5 widths after the drift point, so that the drifted
        # generator's share is 0.25% at the drift point and 1.8% half a width later.
        position = drift_at if width == 0 else drift_at + int(1.5 * width)
        specs.append(
            {
                "base": base,
                "drifted": drifted,
                "position": position,
                "width": width,
                "seed": seed,
                "rows": drift_at + AFTER_ROWS,
            }
        )
    subprocess.run(
        [str(python), "-c", RIVER_WORKER, json.dumps(specs), str(tmp)],
        check=True,
        timeout=TIMEOUT_S,
    )
    out = []
    for i, (name, change, *_rest) in enumerate(RIVER_STREAMS):
        frame = pd.read_parquet(tmp / f"{i}.parquet")
        out.append(Stream(name, change, frame, drift_at, LABEL, "accuracy"))
    return out


@dataclass
class Verdicts:
    """Per window after the reference: did any column drift, the dataset, performance."""

    ends: list[int] = field(default_factory=list)
    any_column: list[bool] = field(default_factory=list)
    dataset: list[bool] = field(default_factory=list)
    performance: list[bool | None] = field(default_factory=list)
    flagged: list[str] = field(default_factory=list)


class PerformanceCheck:
    """A model fitted on the first 80% of the reference rows, its metric evaluated on the
    rest, and headway's realised-performance verdict per window."""

    def __init__(self, stream: Stream, features: list[str], seed: int) -> None:
        from sklearn.ensemble import HistGradientBoostingClassifier

        from headway.evaluation.metrics import score

        reference = stream.frame.iloc[:REFERENCE_ROWS]
        self.categories = {
            c: sorted(reference[c].dropna().astype(str).unique())
            for c in features
            if not pd.api.types.is_numeric_dtype(reference[c])
        }
        self.features = features
        self.metric = stream.metric or "accuracy"
        cut = int(REFERENCE_ROWS * 0.8)
        x = self.encode(reference)
        y = reference[stream.label].to_numpy()
        mask = [c in self.categories for c in features]
        self.model = HistGradientBoostingClassifier(
            categorical_features=mask if any(mask) else None, random_state=seed
        ).fit(x[:cut], y[:cut])
        self.classes = self.model.classes_
        self.task = "binary" if len(self.classes) == 2 else "multiclass"
        self.evaluated = score(
            self.metric, y[cut:], self.model.predict_proba(x[cut:]), classes=self.classes
        )
        # Every row's scores at once: the windows of each size slice them.
        self.y = stream.frame[stream.label].to_numpy()
        self.scores = self.model.predict_proba(self.encode(stream.frame))

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        columns = []
        for c in self.features:
            if c in self.categories:
                codes = pd.Categorical(frame[c].astype(str), categories=self.categories[c]).codes
                columns.append(np.where(codes < 0, np.nan, codes).astype(float))
            else:
                columns.append(pd.to_numeric(frame[c], errors="coerce").to_numpy(dtype=float))
        return np.column_stack(columns)

    def dropped(self, start: int, stop: int) -> bool:
        """headway's verdict on rows ``start:stop`` of the stream."""
        from headway.evaluation.metrics import score
        from headway.monitoring.performance import realised

        y, scores = self.y[start:stop], self.scores[start:stop]
        value = score(self.metric, y, scores, classes=self.classes)
        # The interval's upper end lies at or above the window's own value, so a window
        # whose value is within the margin cannot drop: skip its bootstrap.
        if value >= self.evaluated - 0.02:
            return False
        verdict = realised(
            self.task,
            self.metric,
            y,
            scores,
            classes=self.classes,
            threshold=None,
            evaluated=self.evaluated,
            margin=0.02,
            min_rows=100,
        )
        return bool(verdict["dropped"])


def run_windows(stream: Stream, window: int, check: PerformanceCheck | None) -> Verdicts:
    from headway.monitoring.drift import dataset_drift, drift_columns
    from headway.monitoring.sketch import sketch_column

    features = [c for c in stream.frame.columns if c != stream.label]
    reference = stream.frame.iloc[:REFERENCE_ROWS]
    sketches = {c: sketch_column(reference[c]) for c in features}
    out = Verdicts()
    for start in range(REFERENCE_ROWS, len(stream.frame) - window + 1, window):
        rows = stream.frame.iloc[start : start + window]
        results = drift_columns(sketches, rows[features])
        out.ends.append(start + window)
        out.any_column.append(any(r.drifted for r in results))
        out.dataset.append(bool(dataset_drift(results)["drifted"]))
        out.flagged.append(",".join(r.column for r in results if r.drifted))
        out.performance.append(None if check is None else check.dropped(start, start + window))
    return out


def summarise(stream: Stream, window: int, verdicts: Verdicts) -> dict[str, Any]:
    stable = [i for i, end in enumerate(verdicts.ends) if end <= stream.drift_at]
    after = [i for i, end in enumerate(verdicts.ends) if end > stream.drift_at]

    def per_50(flags: list[Any]) -> float | None:
        if flags[0] is None:
            return None
        return 50 * sum(bool(flags[i]) for i in stable) / len(stable)

    def delay(flags: list[Any]) -> int | str | None:
        if flags[0] is None:
            return "-"
        for i in after:
            if flags[i]:
                return verdicts.ends[i] - stream.drift_at
        return None

    first = next((i for i in after if verdicts.any_column[i]), None)
    return {
        "stream": stream.name,
        "change": stream.change,
        "window": window,
        "stable": len(stable),
        "false_any": per_50(verdicts.any_column),
        "false_dataset": per_50(verdicts.dataset),
        "false_performance": per_50(verdicts.performance),
        "delay_any": delay(verdicts.any_column),
        "delay_dataset": delay(verdicts.dataset),
        "delay_performance": delay(verdicts.performance),
        "columns_at_detection": verdicts.flagged[first] if first is not None else "",
    }


def quality(args: argparse.Namespace) -> list[str]:
    from rich.console import Console
    from rich.table import Table
    from threadpoolctl import threadpool_limits

    windows = [int(w) for w in args.windows.split(",")]
    for w in windows:
        if args.stable_rows % w or args.stable_rows // w < 50:
            sys.exit(
                f"--stable-rows {args.stable_rows} must be a multiple of {w} and >= 50 windows"
            )
    with tempfile.TemporaryDirectory(prefix="headway-bench-streams-") as tmp:
        streams = [gaussian_stream(args.stable_rows, args.seed)]
        streams += churn_streams(args.stable_rows, args.seed)
        if not args.no_river:
            streams += river_streams(args.stable_rows, args.seed, Path(tmp))
    header = (
        "stream",
        "what changes",
        "window rows",
        "stable windows",
        "false alarms / 50 stable windows: any column / dataset / performance",
        "delay rows: any column / dataset / performance",
        "columns flagged at detection",
    )
    table = Table(title="drift detection on streams with a known drift point")
    for column in header:
        table.add_column(column, justify="right")
    lines = ["| " + " | ".join(header) + " |", "|---|---|" + "---:|" * 4 + "---|"]

    def rate(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    def rows_(v: int | str | None) -> str:
        if v is None:
            return f"none in {AFTER_ROWS:,}"
        return v if isinstance(v, str) else f"{v:,}"

    # One OpenMP thread for the models: on a small machine shared with other work, more
    # threads than free cores make scikit-learn's boosting crawl.
    with threadpool_limits(limits=1):
        for stream in streams:
            features = [c for c in stream.frame.columns if c != stream.label]
            check = PerformanceCheck(stream, features, args.seed) if stream.label else None
            for window in windows:
                started = time.perf_counter()
                s = summarise(stream, window, run_windows(stream, window, check))
                cells = [
                    s["stream"],
                    s["change"],
                    f"{window:,}",
                    str(s["stable"]),
                    " / ".join(
                        rate(s[k]) for k in ("false_any", "false_dataset", "false_performance")
                    ),
                    " / ".join(
                        rows_(s[k]) for k in ("delay_any", "delay_dataset", "delay_performance")
                    ),
                    s["columns_at_detection"] or "-",
                ]
                table.add_row(*cells)
                lines.append("| " + " | ".join(cells) + " |")
                print(f"{stream.name}, {window}: {time.perf_counter() - started:.1f} s", flush=True)
            if check is not None:
                print(f"  model {check.metric} on held-out reference rows: {check.evaluated:.4f}")
    Console(width=220).print(table)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each table")
    parser.add_argument("--columns", type=int, default=20, help="columns of each table")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-speed", action="store_true", help="skip the Evidently comparison")
    parser.add_argument("--no-quality", action="store_true", help="skip the stream table")
    parser.add_argument("--no-river", action="store_true", help="skip river's streams")
    parser.add_argument(
        "--stable-rows", type=int, default=250_000, help="rows before each stream's drift point"
    )
    parser.add_argument("--windows", default="1000,5000", help="window sizes, comma-separated")
    parser.add_argument(
        "--profile", action="store_true", help="also profile headway's evaluation (an extra run)"
    )
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        reference_path, current_path = args.worker
        print(json.dumps(worker_headway(reference_path, current_path, profile=args.profile)))
        return
    text: list[str] = []
    if not args.no_speed:
        text += [*speed(args), ""]
    if not args.no_quality:
        text += [*quality(args), ""]
    print("\n".join(text))
    print(f"python {sys.version.split()[0]}")
    if args.markdown is not None:
        args.markdown.write_text("\n".join(text))


if __name__ == "__main__":
    main()
