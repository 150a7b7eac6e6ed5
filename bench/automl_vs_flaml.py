"""Model search: headway's study against FLAML's AutoML, same data, same splits, same budget.

Datasets ship with installed packages (scikit-learn's bundled tables) or come from headway's
seeded generators; nothing is downloaded at run time. Each dataset is split once (seeded,
60/20/20, stratified for classification; by time for the demand table, whose lag, rolling and
calendar features headway's forecasting step builds first, so that both systems regress on
the same columns); both systems fit on the train part, may use the validation part, and are
scored on the test part. A default-parameter LightGBM on the same
train part is the floor. FLAML runs in its own virtual environment (it needs xgboost),
made on first use in bench/.venv-flaml.

    python bench/automl_vs_flaml.py                  # 30 s budget per system and dataset
    python bench/automl_vs_flaml.py --budget 60
"""

from __future__ import annotations

import argparse
import json
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
FLAML_PACKAGES = ["flaml>=2.3", "xgboost-cpu", "lightgbm", "scikit-learn", "pandas", "pyarrow"]
TARGET = "target"

FLAML_WORKER = r"""
import json, sys, time
import pandas as pd
from flaml import AutoML
from flaml.automl.data import get_output_from_log
d, task, metric = sys.argv[1:4]
budget, seed = float(sys.argv[4]), int(sys.argv[5])
tr, va, te = (pd.read_parquet(f"{d}/{p}.parquet") for p in ("train", "valid", "test"))
for f in (tr, va, te):
    for c in f.columns:
        if f[c].dtype == object or str(f[c].dtype) == "str":
            f[c] = f[c].astype("category")
X = lambda f: f.drop(columns=["target"])
automl = AutoML()
started = time.perf_counter()
automl.fit(X(tr), tr["target"], X_val=X(va), y_val=va["target"], task=task, metric=metric,
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


def load(name: str) -> tuple[pd.DataFrame, str, str]:
    """A table with a 'target' column, its task and the metric compared."""
    if name == "churn":
        frame = make_churn(20_000, seed=0).drop(columns=["customer_id", "observed_at"])
        return frame.rename(columns={"churned": TARGET}), "binary", "roc_auc"
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
        return frame, "regression", "mae"
    if name == "churn_charges":
        frame = make_churn(20_000, seed=1).drop(columns=["customer_id", "observed_at"])
        return frame.rename(columns={"monthly_charges": TARGET}), "regression", "rmse"
    loader, task, metric = {
        "breast_cancer": (skd.load_breast_cancer, "binary", "roc_auc"),
        "wine": (skd.load_wine, "multiclass", "accuracy"),
        "digits": (skd.load_digits, "multiclass", "accuracy"),
        "diabetes": (skd.load_diabetes, "regression", "rmse"),
    }[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns={"target": TARGET})
    return frame, task, metric


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
        "first_1pct_s": within_1pct(list(times), list(values), HIGHER_IS_BETTER[metric]),
    }


def run_default_lgbm(parts: Split, task: str, metric: str, seed: int) -> float:
    def prep(frame: pd.DataFrame) -> pd.DataFrame:
        x = frame.drop(columns=[TARGET]).copy()
        for c in x.columns:
            if not pd.api.types.is_numeric_dtype(x[c]):
                x[c] = pd.Categorical(x[c], categories=sorted(parts.train[c].dropna().unique()))
        return x

    cls = lgb.LGBMRegressor if task == "regression" else lgb.LGBMClassifier
    model = cls(random_state=seed, verbose=-1).fit(prep(parts.train), parts.train[TARGET])
    y = parts.test[TARGET].to_numpy()
    if task == "regression":
        return score(metric, y, model.predict(prep(parts.test)))
    return score(metric, y, model.predict_proba(prep(parts.test)), classes=model.classes_)


def flaml_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *FLAML_PACKAGES], check=True)
    return python


def run_flaml(python: Path, parts: Split, task: str, metric: str, budget: float, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("train", "valid", "test"):
            getattr(parts, name).to_parquet(f"{tmp}/{name}.parquet", index=False)
        flaml_task = "regression" if task == "regression" else "classification"
        out = subprocess.run(
            [str(python), "-c", FLAML_WORKER, tmp, flaml_task, metric, str(budget), str(seed)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    y = parts.test[TARGET].to_numpy()
    if task == "regression":
        value = score(metric, y, np.asarray(doc["pred"]))
    else:
        classes = np.asarray(sorted(parts.train[TARGET].unique()))
        value = score(metric, y, np.asarray(doc["proba"]), classes=classes, threshold=None)
    # FLAML logs losses (1 - score for maximised metrics); a 1% band on the loss of a
    # maximised metric is not 1% of the score, so convert back first.
    higher = HIGHER_IS_BETTER[metric]
    values = [1 - loss for loss in doc["losses"]] if higher else doc["losses"]
    return {
        "test": value,
        "best": doc["best"],
        "first_1pct_s": within_1pct(doc["times"], values, higher),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per system")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--datasets",
        default="breast_cancer,wine,digits,diabetes,churn,churn_charges,demand",
        help="comma-separated names",
    )
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    python = flaml_python()
    table = Table(title=f"test scores, {args.budget:.0f} s budget each, seed {args.seed}")
    for column in (
        "dataset",
        "metric",
        "headway",
        "FLAML",
        "LightGBM default",
        "headway vs FLAML",
        "to 1%: headway / FLAML",
        "best: headway / FLAML",
    ):
        table.add_column(column, justify="right")
    for name in args.datasets.split(","):
        frame, task, metric = load(name)
        parts = split3(frame, task, args.seed, ordered=name == "demand")
        ours = run_headway(parts, task, metric, args.budget, args.seed)
        theirs = run_flaml(python, parts, task, metric, args.budget, args.seed)
        floor = run_default_lgbm(parts, task, metric, args.seed)
        higher = HIGHER_IS_BETTER[metric]
        ratio = ours["test"] / theirs["test"] if higher else theirs["test"] / ours["test"]
        table.add_row(
            name, metric, f"{ours['test']:.4f}", f"{theirs['test']:.4f}", f"{floor:.4f}",
            f"{ratio:.3f}x", f"{ours['first_1pct_s']:.1f} / {theirs['first_1pct_s']:.1f} s",
            f"{ours['best']} / {theirs['best']}",
        )  # fmt: skip
    Console(width=160).print(table)
    print("ratio > 1: headway better (for rmse: FLAML's rmse / headway's)")


if __name__ == "__main__":
    main()
