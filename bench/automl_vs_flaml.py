"""Model search: headway's study against FLAML's AutoML, same rows, same splits, same budget.

Every table ships with an installed package or comes from headway's seeded generators; nothing
is downloaded at run time. Real tables: scikit-learn's bundled breast_cancer, wine, digits and
diabetes, and statsmodels' fair, randhie, anes96 and star98 (statsmodels is not a headway
dependency: it is installed in FLAML's environment, where a small loader writes each table to
Parquet that both sides read). Generated tables: churn, and demand, whose lag, rolling and
calendar features headway's forecasting step builds first, so that both systems regress on
the same columns.

Each table is split once (seeded, 60/20/20, stratified for classification; by time for
demand). Both systems get the same rows, train+valid, and choose how to validate on them:
headway gets the split's train and valid parts (it cross-validates or holds out by itself,
then refits), FLAML gets them concatenated with its default eval_method 'auto' (split_type
'time' for demand, the counterpart of headway's time-ordered split). Both are scored on the
same test part. A default-parameter LightGBM fitted on train+valid is the floor. FLAML runs in
its own virtual environment (it needs xgboost; the loader needs statsmodels), made on first
use in bench/.venv-flaml.

    python bench/automl_vs_flaml.py                        # 30 s budget per system and table
    python bench/automl_vs_flaml.py --budget 60 --markdown /tmp/model-search.md
    python bench/automl_vs_flaml.py --budget 5 --datasets fair,anes96,randhie,wine
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from rich.console import Console
from rich.table import Table
from sklearn import datasets as skd
from sklearn.model_selection import train_test_split

from headway.config import TrainingConfig
from headway.data.split import Split
from headway.datasets import make_churn, make_demand
from headway.evaluation.metrics import score
from headway.features import feature_frame
from headway.tasks import HIGHER_IS_BETTER
from headway.training import TrialRecord, train

VENV = Path(__file__).parent / ".venv-flaml"
FLAML_PACKAGES = [
    "flaml>=2.3",
    "xgboost-cpu",
    "lightgbm",
    "scikit-learn",
    "pandas",
    "pyarrow",
    "statsmodels",
]
TARGET = "target"

# name: (where the table comes from, task, metric compared)
DATASETS: dict[str, tuple[str, str, str]] = {
    "breast_cancer": ("sklearn", "binary", "roc_auc"),
    "wine": ("sklearn", "multiclass", "accuracy"),
    "digits": ("sklearn", "multiclass", "accuracy"),
    "diabetes": ("sklearn", "regression", "rmse"),
    "fair": ("statsmodels", "binary", "roc_auc"),
    "randhie": ("statsmodels", "regression", "rmse"),
    "anes96": ("statsmodels", "multiclass", "accuracy"),
    "star98": ("statsmodels", "regression", "rmse"),
    "churn": ("headway", "binary", "roc_auc"),
    "demand": ("headway", "regression", "mae"),
}

STATSMODELS_LOADER = r"""
import importlib, sys
out, *names = sys.argv[1:]
for name in names:
    frame = importlib.import_module(f"statsmodels.datasets.{name}").load_pandas().data
    frame.to_parquet(f"{out}/{name}.parquet", index=False)
"""

FLAML_WORKER = r"""
import json, sys, time
import pandas as pd
from flaml import AutoML
from flaml.automl.data import get_output_from_log
d, task, metric, split_type = sys.argv[1:5]
budget, seed = float(sys.argv[5]), int(sys.argv[6])
tr, va, te = (pd.read_parquet(f"{d}/{p}.parquet") for p in ("train", "valid", "test"))
fit = pd.concat([tr, va], ignore_index=True)  # the same rows headway gets, in the same order
for c in fit.columns:
    if c != "target" and (fit[c].dtype == object or str(fit[c].dtype) == "str"):
        categories = sorted(fit[c].dropna().unique())
        fit[c] = pd.Categorical(fit[c], categories=categories)
        te[c] = pd.Categorical(te[c], categories=categories)
X = lambda f: f.drop(columns=["target"])
automl = AutoML()
started = time.perf_counter()
automl.fit(X(fit), fit["target"], task=task, metric=metric, split_type=split_type,
           time_budget=budget, seed=seed, verbose=0, log_file_name=f"{d}/flaml.log")
out = {"wall_s": time.perf_counter() - started, "best": automl.best_estimator}
if task == "regression":
    out["pred"] = automl.predict(X(te)).tolist()
else:
    out["proba"] = automl.predict_proba(X(te)).tolist()
    out["classes"] = [str(c) for c in automl.classes_]
times, losses, _, _, _ = get_output_from_log(f"{d}/flaml.log", budget)
out["times"], out["losses"] = list(map(float, times)), list(map(float, losses))
print(json.dumps(out))
"""


def flaml_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *FLAML_PACKAGES], check=True)
    return python


def export_statsmodels(python: Path, names: list[str], out: Path) -> None:
    """Write each named statsmodels table to ``out/<name>.parquet`` (run in FLAML's venv)."""
    if names:
        subprocess.run([str(python), "-c", STATSMODELS_LOADER, str(out), *names], check=True)


def load(name: str, tables: Path) -> pd.DataFrame:
    """The table with a 'target' column (task and metric in DATASETS)."""
    source = DATASETS[name][0]
    if source == "statsmodels":
        raw = pd.read_parquet(tables / f"{name}.parquet")
        if name == "fair":  # did the respondent have any extramarital affair
            frame = raw.drop(columns=["affairs"])
            frame[TARGET] = (raw["affairs"] > 0).astype(int)
        elif name == "randhie":  # outpatient visits, a heavy-tailed count: regress its log1p
            frame = raw.drop(columns=["mdvis"])
            frame[TARGET] = np.log1p(raw["mdvis"].astype(float))
        elif name == "anes96":  # party identification, 7 levels from strong Democrat
            frame = raw.drop(columns=["PID"])
            frame[TARGET] = raw["PID"].astype(int)
        elif name == "star98":  # share of a district's pupils above the national median
            frame = raw.drop(columns=["NABOVE", "NBELOW"])
            frame[TARGET] = raw["NABOVE"] / (raw["NABOVE"] + raw["NBELOW"])
        else:
            raise ValueError(f"no target defined for statsmodels table {name!r}")
        return frame
    if name == "churn":
        frame = make_churn(20_000, seed=0).drop(columns=["customer_id", "observed_at"])
        return frame.rename(columns={"churned": TARGET})
    if name == "demand":
        from headway.features.forecast import ForecastFeatures

        raw = make_demand(30_000, seed=0)
        features = ForecastFeatures(
            series_columns=["store_id", "product_id"],
            timestamp_column="date",
            target="units_sold",
            horizon=7,
        ).fit(raw)
        frame = features.transform(raw.drop(columns=["units_sold"]))
        frame[TARGET] = raw["units_sold"].to_numpy(dtype=float)
        return frame
    loader = {
        "breast_cancer": skd.load_breast_cancer,
        "wine": skd.load_wine,
        "digits": skd.load_digits,
        "diabetes": skd.load_diabetes,
    }[name]
    bunch = loader(as_frame=True)
    return bunch.frame.rename(columns={"target": TARGET})


def split3(frame: pd.DataFrame, task: str, seed: int, *, ordered: bool = False) -> Split:
    if ordered:  # rows are in time order: the past trains, the most recent rows test
        n = len(frame)
        a, b = int(n * 0.6), int(n * 0.8)
        return Split("time", frame.iloc[:a], frame.iloc[a:b], frame.iloc[b:])
    strat = frame[TARGET] if task != "regression" else None
    rest, test = train_test_split(frame, test_size=0.2, random_state=seed, stratify=strat)
    strat = rest[TARGET] if task != "regression" else None
    train_, valid = train_test_split(rest, test_size=0.25, random_state=seed, stratify=strat)
    return Split("random", train_, valid, test)


def within_1pct(times: list[float], values: list[float], higher: bool) -> float:
    """Seconds until the best-so-far score first came within 1% of the final best."""
    if not values:
        return float("nan")
    best = np.maximum.accumulate(values) if higher else np.minimum.accumulate(values)
    final = best[-1]
    ok = best >= final - abs(final) * 0.01 if higher else best <= final + abs(final) * 0.01
    return float(times[int(np.argmax(ok))])


def run_headway(parts: Split, task: str, metric: str, budget: float, seed: int) -> dict:
    features = [c for c in parts.train.columns if c != TARGET]
    config = TrainingConfig.model_validate(
        {"metric": metric, "budget": {"trials": 10_000, "timeout_seconds": budget}}
    )
    history: list[tuple[float, float]] = []
    started = time.perf_counter()

    def on_trial(record: TrialRecord) -> None:
        if record.state == "complete" and record.value is not None:
            history.append((time.perf_counter() - started, record.value))

    model = train(
        parts, target=TARGET, features=features, task=task, metric=metric,
        config=config, seed=seed, on_trial=on_trial,
    )  # fmt: skip
    wall = time.perf_counter() - started
    x_test = feature_frame(parts.test, model)
    y = parts.test[TARGET].to_numpy()
    if task == "regression":
        value = score(metric, y, model.estimator.predict(x_test))
    else:
        proba = model.estimator.predict_proba(x_test)
        value = score(metric, y, proba, classes=np.asarray(model.classes), threshold=None)
    times, values = zip(*history, strict=True) if history else ((), ())
    return {
        "test": value,
        "best": model.family,
        "trials": model.n_trials,
        "workers": model.n_workers,
        # the model's own figures where this headway records them, else None
        "search_s": getattr(model, "search_seconds", None),
        "total_s": getattr(model, "total_seconds", None),
        "wall_s": wall,  # the whole train() call, measured here
        "first_1pct_s": within_1pct(list(times), list(values), HIGHER_IS_BETTER[metric]),
    }


def run_default_lgbm(parts: Split, task: str, metric: str, seed: int) -> float:
    fit = pd.concat([parts.train, parts.valid])

    def prep(frame: pd.DataFrame) -> pd.DataFrame:
        x = frame.drop(columns=[TARGET]).copy()
        for c in x.columns:
            if not pd.api.types.is_numeric_dtype(x[c]):
                x[c] = pd.Categorical(x[c], categories=sorted(fit[c].dropna().unique()))
        return x

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    model = cls(random_state=seed, verbose=-1).fit(prep(fit), fit[TARGET])
    y = parts.test[TARGET].to_numpy()
    if task == "regression":
        return score(metric, y, np.asarray(model.predict(prep(parts.test))))
    proba = np.asarray(model.predict_proba(prep(parts.test)))
    return score(metric, y, proba, classes=model.classes_)


def run_flaml(python: Path, parts: Split, task: str, metric: str, budget: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("train", "valid", "test"):
            getattr(parts, name).to_parquet(f"{tmp}/{name}.parquet", index=False)
        flaml_task = "regression" if task == "regression" else "classification"
        split_type = "time" if parts.strategy == "time" else "auto"
        out = subprocess.run(
            [str(python), "-c", FLAML_WORKER, tmp, flaml_task, metric, split_type,
             str(budget), str(seed)],
            capture_output=True, text=True,
        )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"FLAML failed:\n{out.stderr[-4000:]}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    y = parts.test[TARGET].to_numpy()
    if task == "regression":
        value = score(metric, y, np.asarray(doc["pred"]))
    else:
        classes = np.asarray(sorted(pd.concat([parts.train, parts.valid])[TARGET].unique()))
        proba = np.asarray(doc["proba"])
        order = [doc["classes"].index(str(c)) for c in classes]  # FLAML's columns, our order
        value = score(metric, y, proba[:, order], classes=classes, threshold=None)
    # FLAML logs losses (1 - score for maximised metrics); a 1% band on the loss of a
    # maximised metric is not 1% of the score, so convert back first.
    higher = HIGHER_IS_BETTER[metric]
    values = [1 - loss for loss in doc["losses"]] if higher else doc["losses"]
    return {
        "test": value,
        "best": doc["best"],
        "wall_s": doc["wall_s"],
        "first_1pct_s": within_1pct(doc["times"], values, higher),
    }


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


COLUMNS = (
    "dataset",
    "rows (train+valid / test)",
    "metric",
    "headway",
    "FLAML",
    "LightGBM default",
    "headway vs FLAML",
    "wall s headway: search / total (train call)",
    "wall s FLAML",
    "to 1%: headway / FLAML",
    "best family: headway / FLAML",
)


def markdown(rows: list[list[str]]) -> str:
    text_columns = {"dataset", "metric", "best family: headway / FLAML"}  # left-aligned
    rule = ["---" if c in text_columns else "---:" for c in COLUMNS]
    lines = ["| " + " | ".join(cells) + " |" for cells in (COLUMNS, rule, *rows)]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per system")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--datasets",
        default=",".join(DATASETS),
        help=f"comma-separated subset of: {', '.join(DATASETS)}",
    )
    parser.add_argument(
        "--markdown", type=Path, default=None, help="write the markdown table here, not stdout"
    )
    args = parser.parse_args()
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        parser.error(f"unknown datasets {unknown}; known: {', '.join(DATASETS)}")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    python = flaml_python()
    table = Table(title=f"test scores, {args.budget:.0f} s budget each, seed {args.seed}")
    for column in COLUMNS:
        table.add_column(column, justify="right")
    rows: list[list[str]] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        tables = Path(tmp)
        export_statsmodels(python, [n for n in names if DATASETS[n][0] == "statsmodels"], tables)
        for name in names:
            _, task, metric = DATASETS[name]
            frame = load(name, tables)
            parts = split3(frame, task, args.seed, ordered=name == "demand")
            ours = run_headway(parts, task, metric, args.budget, args.seed)
            theirs = run_flaml(python, parts, task, metric, args.budget, args.seed)
            floor = run_default_lgbm(parts, task, metric, args.seed)
            higher = HIGHER_IS_BETTER[metric]
            ratio = ours["test"] / theirs["test"] if higher else theirs["test"] / ours["test"]
            ratios.append(ratio)
            total = ours["total_s"] if ours["total_s"] is not None else ours["wall_s"]
            row = [
                name,
                f"{len(parts.train) + len(parts.valid):,} / {len(parts.test):,}",
                metric,
                f"{ours['test']:.4f}",
                f"{theirs['test']:.4f}",
                f"{floor:.4f}",
                f"{ratio:.3f}x",
                f"{seconds(ours['search_s'])} / {seconds(total)} ({ours['wall_s']:.1f})",
                f"{theirs['wall_s']:.1f}",
                f"{ours['first_1pct_s']:.1f} / {theirs['first_1pct_s']:.1f} s",
                f"{ours['best']} / {theirs['best']}",
            ]
            rows.append(row)
            table.add_row(*row)
    Console(width=220).print(table)
    print("ratio > 1: headway better (for rmse and mae: FLAML's error / headway's)")
    wins = sum(r >= 1 for r in ratios)
    summary = (
        f"headway >= FLAML on {wins} of {len(ratios)} tables; "
        f"median ratio {statistics.median(ratios):.3f}x"
    )
    print(summary)
    text = markdown(rows)
    if args.markdown is not None:
        args.markdown.write_text(text + "\n" + summary + "\n")
        print(f"markdown table written to {args.markdown}")
    else:
        print()
        print(text)


if __name__ == "__main__":
    main()
