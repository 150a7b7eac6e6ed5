"""Search over model families and their hyper-parameters with Optuna, inside a budget.

One Optuna study per run. Trials run on an executor (:mod:`headway.training.executors`):
worker processes on this machine by default, or Ray tasks. The study lives in an Optuna
storage that the workers share; this process watches it (to log every trial as it finishes)
and, once the budget is spent, fits the winning trial's parameters again itself. A worker
therefore never sends a model back, and the same winning parameters give the same model in
``headway reproduce``.

Per trial: a family (``trial.suggest_categorical("family", ...)``), that family's parameters
(define-by-run), class weights where classes are imbalanced, then a fit per fold. Under
cross-validation a trial reports its score after each fold and the median pruner stops
trials that fall behind; boosting families stop early on the validation rows.

``evaluation.monotonic`` (binary and regression tasks) is enforced while fitting: only the
families that take monotone constraints are searched, and their trees are grown so that
the score moves one way in each listed column (calibration and the decision threshold,
both monotone, keep that).

**Warm start.** With ``training.warm_start`` the study first runs the searched families'
entries of a portfolio of configurations that do well across tables
(:mod:`headway.training.portfolio`), cheapest first, enqueued before the workers start; the
sampler takes over after them. They count against ``training.budget.trials`` like any other
trial (a smaller budget runs only the first ones), and a winner among them is recorded and
replayed like any other.

**Budget.** ``training.budget.timeout_seconds`` counts from the start of :func:`train` and
covers the final fit too. That fit (in this process, after the workers stop) fits the winner
once per fold again, for its out-of-fold scores, and with cross-validation or
``training.refit`` once more on every train + validation row. Its expected cost, the
*reserve*, is taken from the slowest of the :data:`REFIT_LEADERS` best complete trials (the
likely winners): their duration (``duration_seconds``) over the number of folds is the cost
of one fit, times the fits to come (folds, plus one for the refit on all rows), times
:data:`REFIT_MARGIN`. A worker starts a trial only when, after it, the reserve still fits
before the deadline: ``now + expected trial + reserve <= deadline``, the expected trial being
the median duration of the complete trials of the same family (of all complete trials while
that family has none; nothing before the first trial completes). Otherwise the trial is
pruned unrecorded (user attr ``over_time``, like ``over_budget``) and that worker stops.
Durations are measured in the workers, each with its share of the cores, while the final fit
uses every core, so the reserve errs on the safe side; a trial already running at the
deadline still finishes. ``TrainedModel.search_seconds`` and ``total_seconds`` record the
search's and the whole training's wall time.
"""

from __future__ import annotations

import logging
import math
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial, TrialState
from sklearn.calibration import CalibratedClassifierCV
from sklearn.frozen import FrozenEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, log_loss
from sklearn.model_selection import (
    FixedThresholdClassifier,
    GroupKFold,
    KFold,
    StratifiedKFold,
    TimeSeriesSplit,
)
from sklearn.pipeline import Pipeline

from headway.artifacts import TrainedModel
from headway.config import TrainingConfig
from headway.data.split import Split
from headway.evaluation.metrics import score
from headway.exceptions import ConfigError, TrainingError
from headway.features.contract import (
    build_preprocessor,
    coerce_features,
    infer_feature_types,
)
from headway.redact import redact_uri
from headway.tasks import HIGHER_IS_BETTER
from headway.training.executors import (
    BaseExecutor,
    WorkerJob,
    available_cpus,
    make_executor,
    open_storage,
)
from headway.training.families import FAMILIES, Arrays, Fitted, ModelFamily, get_families
from headway.training.portfolio import portfolio

__all__ = [
    "TrialRecord",
    "check_training",
    "refit_reserve",
    "resolve_families",
    "time_for_trial",
    "train",
]

logger = logging.getLogger(__name__)

# A minority class below this share makes the search try balanced class weights.
IMBALANCE_SHARE = 0.2
# Metrics of predicted labels, which class weights cannot hurt through the probabilities.
LABEL_METRICS = ("accuracy", "f1", "f1_macro")
# Calibration is kept only when it lowers the cross-validated log loss by this much.
CALIBRATION_GAIN = 0.005
_POLL_SECONDS = 0.2
# The final fit's reserve is this many times its estimate (see the module docstring).
REFIT_MARGIN = 1.25
# The final fit is estimated from the slowest of this many best complete trials.
REFIT_LEADERS = 3
# User attributes of trials a worker did not run: past the trial budget, or out of time.
_UNRUN = ("over_budget", "over_time")
_DIRECTIONS = {"increasing": 1, "decreasing": -1}


@dataclass(frozen=True)
class TrialRecord:
    """One finished trial, handed to ``on_trial`` (e.g. to log it to MLflow).

    ``state`` is ``complete``, ``pruned`` (stopped early: behind the median after a fold)
    or ``failed`` (the fit raised; ``error`` says how). ``value`` is the validation score,
    the last reported one for a pruned trial, ``None`` for a failed one.
    """

    number: int
    family: str
    params: dict[str, Any]
    value: float | None
    best_iteration: int
    duration_seconds: float
    n_trials: int
    state: Literal["complete", "pruned", "failed"] = "complete"
    error: str | None = None
    worker: str | None = None


def resolve_families(
    config: TrainingConfig, monotonic: Mapping[str, str] | None = None
) -> list[ModelFamily]:
    """The families to search: those named, or every installed one when none are named.

    With ``monotonic`` (``evaluation.monotonic``) only the families that enforce monotone
    constraints are kept; the others are left out with a log line.

    Raises:
        TrainingError: a named family is unknown or not installed.
        ConfigError: ``monotonic`` is given and none of the named families enforces it.
    """
    if config.model_families is not None:
        families = get_families(list(config.model_families))
    else:
        families = []
        for family in FAMILIES.values():
            try:
                families.extend(get_families([family.name]))
            except TrainingError:
                logger.info("model family %s is not installed; searching without it", family.name)
    if not monotonic:
        return families
    kept = [f for f in families if f.monotone]
    left_out = [f.name for f in families if not f.monotone]
    if not kept:
        able = " or ".join(name for name, f in FAMILIES.items() if f.monotone)
        raise ConfigError(
            f"evaluation.monotonic ({', '.join(monotonic)}) is enforced while training, but "
            f"training.model_families names only families that cannot enforce it "
            f"({', '.join(left_out)}): add {able} to training.model_families, or remove "
            "evaluation.monotonic"
        )
    if left_out:
        logger.info(
            "evaluation.monotonic: searching without %s, which cannot enforce monotone constraints",
            ", ".join(left_out),
        )
    return kept


def check_training(config: TrainingConfig, *, monotonic: Mapping[str, str] | None = None) -> None:
    """Fail before any work when the search cannot run: a family or the executor's library
    not installed, no family that enforces ``monotonic`` (``evaluation.monotonic``), or a
    remote Ray cluster without a shared storage.

    Raises:
        TrainingError: with the fix (the ``pip install`` to run, or the key to set).
        ConfigError: ``monotonic`` is given and no named family enforces it.
    """
    resolve_families(config, monotonic)
    executor = make_executor(config.executor, _n_workers(config), ray_address=config.ray_address)
    if config.optuna_storage is None and not executor.shares_local_files:
        raise TrainingError(
            "training.executor 'ray' on a remote cluster needs a storage every worker can "
            "reach: set HEADWAY_OPTUNA_STORAGE (or training.optuna_storage) to a database "
            "URL, e.g. postgresql+psycopg://USER:PASSWORD@HOST/optuna"
        )


def _clear_of_ties(proba: np.ndarray, cut: float) -> float:
    """A cut-off that splits the validation rows as ``proba >= cut`` does, halfway between
    ``cut`` and the next lower probability seen.

    A cut-off equal to a probability the model gives many rows (calibrated models give
    plateaus) would decide those rows by the last bit of floating-point arithmetic, which
    differs between two exact computations of the same probability (a forest's trees summed
    in another order, a compiled fast path); halfway, a row is on one side by a margin.
    """
    seen = np.unique(proba)
    below = seen[seen < cut]
    if len(below) == 0 or cut not in seen:
        return float(cut)
    return float((below[-1] + cut) / 2)


def _best_f1_threshold(y_pos: np.ndarray, proba: np.ndarray) -> float:
    """The probability cut-off that maximises F1 on the validation rows."""
    candidates = np.unique(np.quantile(proba, np.linspace(0.05, 0.99, 60)))
    f1s = [f1_score(y_pos, (proba >= t).astype(int), zero_division=0) for t in candidates]
    return _clear_of_ties(proba, float(candidates[int(np.argmax(f1s))]))


def _min_cost_threshold(
    y_pos: np.ndarray, proba: np.ndarray, false_positive: float, false_negative: float
) -> float:
    """The cut-off with the lowest total cost of errors on the validation rows."""
    candidates = np.unique(np.concatenate([proba, [1.01]]))  # every distinct cut
    order = np.argsort(proba)
    p, y = proba[order], y_pos[order]
    # Rows below the cut-off are predicted negative: missed positives below, false alarms above.
    below = np.searchsorted(p, candidates, side="left")
    positives_below = np.concatenate([[0], np.cumsum(y)])[below]
    negatives_above = (len(y) - below) - (y.sum() - positives_below)
    cost = false_negative * positives_below + false_positive * negatives_above
    return min(_clear_of_ties(proba, float(candidates[int(np.argmin(cost))])), 1.0)


class _Prepared:
    """The folds trials are scored on, with preprocessing fitted once per fold and encoding.

    Holdout: one fold, train -> valid. Cross-validation: k folds over train + valid
    (time-ordered when the split is by time, by entity when groups are given, stratified for
    classification), and a final refit on all of it.

    ``front`` is a fitted transformer applied to the raw rows before everything else (the
    forecasting task's lag and calendar features); it becomes the model's first step.

    ``monotonic``: numeric feature columns and their direction, given to the families as one
    constraint per preprocessed column (see :func:`_monotone_constraints`).
    """

    def __init__(
        self,
        data: Split,
        features: list[str],
        target: str,
        *,
        config: TrainingConfig,
        task: str,
        seed: int,
        group_column: str | None,
        front: Any | None = None,
        monotonic: Mapping[str, str] | None = None,
    ) -> None:
        self.front = front
        self.raw_types = infer_feature_types(data.train, features)
        train, valid = self._front(data.train), self._front(data.valid)
        if front is None:
            self.types = self.raw_types
        else:  # the raw columns front keeps, and the ones it derives
            derived = [c for c in train.columns if c not in features]
            self.types = infer_feature_types(train, [c for c in features if c in train] + derived)
        self.monotonic = dict(monotonic or {})
        wrong = [c for c in self.monotonic if c not in self.types.numeric]
        if wrong:
            raise ConfigError(
                f"evaluation.monotonic: {wrong} are not numeric feature columns; the numeric "
                f"features are {list(self.types.numeric)}"
            )
        odd = {c: d for c, d in self.monotonic.items() if d not in _DIRECTIONS}
        if odd:
            raise ConfigError(f"evaluation.monotonic: {odd}; use increasing or decreasing")
        rows = len(train) + len(valid)
        mode = config.validation
        self.cv = mode == "cv" or (mode == "auto" and rows <= config.cv_max_rows)
        self.refit_all = self.cv or config.refit
        self._cache: dict[tuple[str, int], tuple[Any, Arrays]] = {}
        combined = pd.concat([train, valid])
        x_all = coerce_features(combined, self.types).reset_index(drop=True)
        y_all = np.concatenate([data.train[target].to_numpy(), data.valid[target].to_numpy()])
        self.full = (x_all, y_all)
        if not self.cv:
            n = len(train)
            self.folds_xy = [(x_all.iloc[:n], y_all[:n], x_all.iloc[n:], y_all[n:])]
        else:
            splitter: Any
            groups = None
            if data.strategy == "time":
                splitter = TimeSeriesSplit(n_splits=config.cv_folds)
            elif group_column is not None:
                splitter = GroupKFold(n_splits=config.cv_folds)
                groups = pd.concat([data.train, data.valid])[group_column].astype(str).to_numpy()
            elif task == "regression":
                splitter = KFold(n_splits=config.cv_folds, shuffle=True, random_state=seed)
            else:
                splitter = StratifiedKFold(
                    n_splits=config.cv_folds, shuffle=True, random_state=seed
                )
            self.folds_xy = [
                (x_all.iloc[tr], y_all[tr], x_all.iloc[va], y_all[va])
                for tr, va in splitter.split(x_all, y_all, groups)
            ]
        self.y_scored = np.concatenate([fold[3] for fold in self.folds_xy])

    def _front(self, frame: pd.DataFrame) -> pd.DataFrame:
        return self.front.transform(frame) if self.front is not None else frame

    def _fit(
        self,
        encoding: str,
        x_train: pd.DataFrame,
        y_train: np.ndarray,
        x_valid: pd.DataFrame | None,
        y_valid: np.ndarray | None,
    ) -> tuple[Any, Arrays]:
        pre = build_preprocessor(self.types, encoding).fit(x_train)  # type: ignore[arg-type]
        categorical = list(range(len(self.types.categorical))) if encoding == "ordinal" else []
        valid = pre.transform(x_valid) if x_valid is not None else None
        monotone = _monotone_constraints(pre, self.monotonic) if self.monotonic else ()
        arrays = Arrays(pre.transform(x_train), y_train, valid, y_valid, categorical, monotone)
        return pre, arrays

    def folds(self, encoding: str) -> list[tuple[Any, Arrays]]:
        out = []
        for i, (x_tr, y_tr, x_va, y_va) in enumerate(self.folds_xy):
            if (encoding, i) not in self._cache:
                self._cache[(encoding, i)] = self._fit(encoding, x_tr, y_tr, x_va, y_va)
            out.append(self._cache[(encoding, i)])
        return out

    def refit(self, encoding: str) -> tuple[Any, Arrays]:
        """Preprocessing and arrays over every train + validation row."""
        return self._fit(encoding, self.full[0], self.full[1], None, None)

    def without_cache(self) -> _Prepared:
        """A copy without fitted preprocessors, cheaper to send to a worker."""
        copy = object.__new__(_Prepared)
        copy.__dict__.update(self.__dict__)
        copy._cache = {}
        return copy

    @property
    def x_valid(self) -> pd.DataFrame:
        """The validation rows of the holdout (after ``front``)."""
        return self.folds_xy[0][2]

    @property
    def y_valid(self) -> np.ndarray:
        return self.folds_xy[0][3]


def _monotone_constraints(pre: Any, monotonic: Mapping[str, str]) -> tuple[int, ...]:
    """One constraint per output column of the fitted preprocessing, in its order: the
    columns of ``monotonic`` get 1 (increasing) or -1 (decreasing); categories, the other
    numbers and the missing-value indicators get 0."""
    names = pre.get_feature_names_out()
    return tuple(_DIRECTIONS[monotonic[str(n)]] if str(n) in monotonic else 0 for n in names)


def _suggest(
    trial: optuna.Trial | optuna.trial.FixedTrial,
    families: Sequence[str],
    class_weights: Sequence[str],
) -> tuple[str, dict[str, Any]]:
    """The family and parameters of a trial; the same calls replay a recorded trial."""
    name = families[0] if len(families) == 1 else trial.suggest_categorical("family", families)
    params = FAMILIES[name].suggest(trial)  # type: ignore[arg-type]
    weight = (
        class_weights[0]
        if len(class_weights) == 1
        else trial.suggest_categorical("class_weight", list(class_weights))
    )
    if weight == "balanced":
        params["class_weight"] = "balanced"
    return name, params


@dataclass
class _Scored:
    value: float
    scores: np.ndarray
    fitted: Fitted


def _score_folds(
    prepared: _Prepared,
    family: ModelFamily,
    params: dict[str, Any],
    *,
    task: str,
    metric: str,
    seed: int,
    n_jobs: int,
    trial: optuna.Trial | None = None,
) -> _Scored:
    """Fit on each fold and score its validation rows; report per fold for pruning."""
    values, fold_scores, iterations = [], [], []
    folds = prepared.folds(family.encoding)
    fitted = None
    for step, (_, arrays) in enumerate(folds):
        fitted = family.fit(task, params, seed, arrays, n_jobs)
        model = fitted.model
        assert arrays.x_valid is not None and arrays.y_valid is not None
        if task == "regression":
            scores, classes = model.predict(arrays.x_valid), None
        else:
            scores, classes = model.predict_proba(arrays.x_valid), model.classes_
        values.append(score(metric, arrays.y_valid, scores, classes=classes, threshold=None))
        fold_scores.append(scores)
        iterations.append(fitted.best_iteration)
        if trial is not None and len(folds) > 1 and step < len(folds) - 1:
            trial.report(float(np.mean(values)), step)
            if trial.should_prune():
                raise optuna.TrialPruned(f"behind the median after fold {step + 1}")
    assert fitted is not None
    value = float(np.mean(values))
    return _Scored(
        value,
        np.concatenate(fold_scores),
        Fitted(fitted.model, round(float(np.mean(iterations)))),
    )


def refit_reserve(leaders: Sequence[float], *, n_folds: int, refit_all: bool) -> float:
    """Seconds to keep for the final fit, from the durations of the leading complete trials
    (each fitted ``n_folds`` folds): the slowest one's cost per fold, times the fits the final
    fit makes (every fold again, plus one on all rows with ``refit_all``), times
    :data:`REFIT_MARGIN`; 0 before any trial completes."""
    if not leaders:
        return 0.0
    per_fold = max(leaders) / max(1, n_folds)
    return REFIT_MARGIN * per_fold * (n_folds + int(refit_all))


def time_for_trial(
    leaders: Sequence[float],
    similar: Sequence[float],
    *,
    n_folds: int,
    refit_all: bool,
    now: float,
    deadline: float,
) -> bool:
    """Whether a trial may start at ``now``: it is expected to finish (the median of
    ``similar``, the durations of complete trials like it; 0 when there are none) with the
    final fit's reserve (:func:`refit_reserve` of ``leaders``) still before ``deadline``."""
    expected = float(np.median(similar)) if len(similar) else 0.0
    reserve = refit_reserve(leaders, n_folds=n_folds, refit_all=refit_all)
    return now + expected + reserve <= deadline


@dataclass
class _Objective:
    """One trial: suggest, fit each fold, score. Picklable: it travels to the workers.

    ``deadline`` (``time.time()``): no trial starts that would leave too little time before
    it for the final fit (:func:`time_for_trial`)."""

    prepared: _Prepared
    families: tuple[str, ...]
    class_weights: tuple[str, ...]
    task: str
    metric: str
    seed: int
    n_trials: int
    threads: int
    deadline: float = math.inf

    def _time_for(self, trial: optuna.Trial, family: str) -> bool:
        if math.isinf(self.deadline):
            return True
        complete = [
            t
            for t in trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.value is not None and "duration_seconds" in t.user_attrs
        ]
        sign = -1.0 if trial.study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
        leaders = sorted(complete, key=lambda t: (sign * float(t.value), t.number))  # type: ignore[arg-type]
        same = [t for t in complete if t.user_attrs.get("family") == family] or complete
        return time_for_trial(
            [float(t.user_attrs["duration_seconds"]) for t in leaders[:REFIT_LEADERS]],
            [float(t.user_attrs["duration_seconds"]) for t in same],
            n_folds=len(self.prepared.folds_xy),
            refit_all=self.prepared.refit_all,
            now=time.time(),
            deadline=self.deadline,
        )

    def __call__(self, trial: optuna.Trial) -> float:
        if trial.number >= self.n_trials:  # other workers used the budget up
            trial.set_user_attr("over_budget", True)
            trial.study.stop()
            raise optuna.TrialPruned("trial budget reached")
        started = time.perf_counter()
        name, params = _suggest(trial, self.families, self.class_weights)
        if not self._time_for(trial, name):  # the final fit needs the time left
            trial.set_user_attr("over_time", True)
            trial.study.stop()
            raise optuna.TrialPruned("no time left for this trial and the final fit")
        trial.set_user_attr("family", name)
        trial.set_user_attr("worker", f"{platform.node()}:{os.getpid()}")
        try:
            result = _score_folds(
                self.prepared,
                FAMILIES[name],
                params,
                task=self.task,
                metric=self.metric,
                seed=self.seed,
                n_jobs=self.threads,
                trial=trial,
            )
        except optuna.TrialPruned:
            raise
        except Exception as exc:  # recorded as failed; the search goes on
            trial.set_user_attr("error", f"{name}: {type(exc).__name__}: {exc}"[:2000])
            raise
        finally:
            trial.set_user_attr("duration_seconds", time.perf_counter() - started)
        if not math.isfinite(result.value):
            trial.set_user_attr("error", f"{name}: metric {self.metric} is not finite")
            raise TrainingError(f"metric {self.metric} is not finite")
        trial.set_user_attr("best_iteration", result.fitted.best_iteration)
        return result.value


def _class_weight_choices(
    config: TrainingConfig, task: str, y: np.ndarray, *, metric: str, calibrated: bool
) -> tuple[str, ...]:
    """``auto``: balanced weights are tried for a class under 20% of the rows, when they
    cannot spoil the probabilities the model serves: the metric judges labels, or the
    probabilities are calibrated afterwards (binary, holdout, calibration not ``none``)."""
    if task not in ("binary", "multiclass") or config.class_weight == "none":
        return ("none",)
    if config.class_weight == "balanced":
        return ("balanced",)
    _, counts = np.unique(y, return_counts=True)
    imbalanced = counts.min() / counts.sum() < IMBALANCE_SHARE
    safe = metric in LABEL_METRICS or (task == "binary" and calibrated)
    return ("none", "balanced") if imbalanced and safe else ("none",)


def _n_workers(config: TrainingConfig) -> int:
    if config.n_workers == "auto":
        return max(1, min(available_cpus(), config.budget.trials))
    return int(config.n_workers)


def _record(trial: FrozenTrial, n_trials: int) -> TrialRecord:
    state: Literal["complete", "pruned", "failed"] = (
        "complete"
        if trial.state == TrialState.COMPLETE
        else "pruned"
        if trial.state == TrialState.PRUNED
        else "failed"
    )
    value = trial.value
    if state == "pruned" and trial.intermediate_values:
        value = trial.intermediate_values[max(trial.intermediate_values)]
    params = {key.split(".", 1)[-1]: v for key, v in trial.params.items() if key != "family"}
    return TrialRecord(
        number=trial.number,
        family=str(trial.user_attrs.get("family", "?")),
        params=params,
        value=None if state == "failed" else value,
        best_iteration=int(trial.user_attrs.get("best_iteration", 0)),
        duration_seconds=float(trial.user_attrs.get("duration_seconds", 0.0)),
        n_trials=n_trials,
        state=state,
        error=trial.user_attrs.get("error")
        or (None if state != "failed" else trial.system_attrs.get("fail_reason")),
        worker=trial.user_attrs.get("worker"),
    )


@dataclass
class _SearchResult:
    winner: FrozenTrial | None
    trials: list[FrozenTrial] = field(default_factory=list)
    executor: str = "local"
    n_workers: int = 1


def _unrun(trial: FrozenTrial) -> bool:
    """Whether a worker pruned the trial without running it (budget or time spent)."""
    return any(trial.user_attrs.get(attr) for attr in _UNRUN)


def _run_search(
    objective: _Objective,
    *,
    config: TrainingConfig,
    direction: Literal["maximize", "minimize"],
    seed: int,
    deadline: float,
    executor: BaseExecutor | None,
    on_trial: Callable[[TrialRecord], None] | None,
) -> _SearchResult:
    budget = config.budget
    if executor is None:
        check_training(config)
        executor = make_executor(
            config.executor, _n_workers(config), ray_address=config.ray_address
        )
    objective.threads = executor.threads_per_worker
    objective.deadline = deadline
    with tempfile.TemporaryDirectory(prefix="headway-search-") as tmp:
        url = config.optuna_storage or f"journal:{Path(tmp) / 'optuna.journal'}"
        storage = open_storage(url)
        study = optuna.create_study(
            study_name=f"headway-{uuid.uuid4().hex[:12]}",
            storage=storage,
            direction=direction,
        )
        if config.warm_start:
            start = portfolio(objective.families, objective.class_weights)
            for params in start[: budget.trials]:
                study.enqueue_trial(params, skip_if_exists=True)
        job = WorkerJob(
            study_name=study.study_name,
            storage=url,
            objective=objective,
            seed=seed,
            deadline=deadline,
            threads=objective.threads,
            n_trials=budget.trials,
        )
        running = executor.submit(job)
        seen: set[int] = set()
        finished_states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
        while True:
            done = running.done()
            for trial in study.get_trials(deepcopy=False, states=finished_states):
                if trial.number in seen or _unrun(trial):
                    continue
                seen.add(trial.number)
                if on_trial is not None:
                    on_trial(_record(trial, budget.trials))
            if done:
                break
            time.sleep(_POLL_SECONDS)
        running.wait()
        trials = [
            t for t in study.get_trials(deepcopy=True, states=finished_states) if not _unrun(t)
        ]
        if config.optuna_storage is not None:
            shown = redact_uri(config.optuna_storage)
            logger.info("study %s kept in %s", study.study_name, shown)
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    sign = -1.0 if direction == "maximize" else 1.0
    winner = min(complete, key=lambda t: (sign * float(t.value), t.number)) if complete else None  # type: ignore[arg-type]
    return _SearchResult(winner, trials, executor.name, executor.n_workers)


def train(
    data: Split,
    *,
    target: str,
    features: list[str],
    task: str,
    metric: str,
    config: TrainingConfig,
    seed: int,
    on_trial: Callable[[TrialRecord], None] | None = None,
    group_column: str | None = None,
    replay: dict[str, Any] | None = None,
    executor: BaseExecutor | None = None,
    front: Any | None = None,
    monotonic: Mapping[str, str] | None = None,
) -> TrainedModel:
    """Search model families and their hyper-parameters; return the best, fitted.

    Args:
        data: the split; trials are scored on ``data.valid`` or by cross-validation.
        replay: the Optuna parameters of a recorded winning trial
            (``TrainedModel.search_params``): fit those instead of searching.
        executor: where the trials run; by default the one ``config`` names.
        front: a fitted transformer applied to the raw rows first (forecasting features);
            ``task`` is then the task of the model behind it.
        monotonic: numeric feature columns whose rise must raise (``increasing``) or lower
            (``decreasing``) the score (``evaluation.monotonic``); binary and regression
            tasks only. Only the families that enforce it are searched, and the model's
            ``params`` record it as ``monotone_constraints``.

    The returned estimator is one scikit-learn object (``front``, preprocessing, model, and
    for binary tasks calibration and the decision threshold) that takes the raw columns.

    Raises:
        TrainingError: an unknown or uninstalled family, or an executor that cannot run
            (before any work); no trial finished within the budget (with the first error).
        ConfigError: ``monotonic`` names a column that is not a numeric feature, or no
            searched family can enforce it (before any work).
    """
    started = time.perf_counter()
    deadline = time.time() + config.budget.timeout_seconds
    constrained = dict(monotonic or {})
    if constrained and task == "multiclass":
        logger.info("evaluation.monotonic is not enforced on a multiclass task")
        constrained = {}
    families = tuple(f.name for f in resolve_families(config, constrained))
    prepared = _Prepared(
        data,
        features,
        target,
        config=config,
        task=task,
        seed=seed,
        group_column=group_column,
        front=front,
        monotonic=constrained,
    )
    direction: Literal["maximize", "minimize"] = (
        "maximize" if HIGHER_IS_BETTER[metric] else "minimize"
    )
    class_weights = _class_weight_choices(
        config,
        task,
        prepared.full[1],
        metric=metric,
        calibrated=not prepared.refit_all and config.calibration != "none",
    )
    budget = config.budget
    objective = _Objective(
        prepared.without_cache(),
        families,
        class_weights,
        task,
        metric,
        seed,
        budget.trials,
        threads=1,
    )
    search = _SearchResult(winner=None)
    search_seconds = 0.0
    if replay is None:
        search_started = time.perf_counter()
        search = _run_search(
            objective,
            config=config,
            direction=direction,
            seed=seed,
            deadline=deadline,
            executor=executor,
            on_trial=on_trial,
        )
        search_seconds = time.perf_counter() - search_started
        if search.winner is None:
            failed = [t for t in search.trials if t.state == TrialState.FAIL]
            first = _record(failed[0], budget.trials).error if failed else None
            detail = f" First error: {first}" if first else ""
            raise TrainingError(
                f"no trial finished within the budget ({budget.trials} trials, "
                f"{budget.timeout_seconds}s; {len(failed)} failed).{detail} Raise "
                "training.budget.timeout_seconds in headway.yaml, or remove the failing family."
            )
        replay = dict(search.winner.params)
    # The winner is fitted again here, with every core: the same parameters give the same
    # model whichever worker found them.
    name, params = _suggest(optuna.trial.FixedTrial(replay), families, class_weights)
    family = FAMILIES[name]
    result = _score_folds(
        prepared,
        family,
        params,
        task=task,
        metric=metric,
        seed=seed,
        n_jobs=available_cpus(),
    )
    if not math.isfinite(result.value):
        raise TrainingError(f"the winning parameters give a non-finite {metric}: {replay}")
    model = _final_model(
        result, family, params, prepared, task=task, metric=metric, config=config, seed=seed
    )
    trials = search.trials
    params = dict(model["params"])
    if constrained:
        params["monotone_constraints"] = ",".join(f"{c}:{d}" for c, d in constrained.items())
    return TrainedModel(
        family=family.name,
        params=params,
        metric=metric,
        valid_score=result.value,
        n_trials=len(trials) if trials else budget.trials,
        feature_columns=prepared.raw_types.columns,
        categorical_columns=prepared.raw_types.categorical,
        classes=model["classes"],
        threshold=model["threshold"],
        estimator=model["estimator"],
        leaderboard=_leaderboard(trials, direction),
        search_params=dict(replay),
        calibration=model["calibration"],
        executor=search.executor,
        n_workers=search.n_workers,
        n_failed=sum(t.state == TrialState.FAIL for t in trials),
        n_pruned=sum(t.state == TrialState.PRUNED for t in trials),
        search_seconds=search_seconds,
        total_seconds=time.perf_counter() - started,
    )


def _leaderboard(trials: list[FrozenTrial], direction: str) -> dict[str, float]:
    board: dict[str, float] = {}
    for trial in trials:
        if trial.state != TrialState.COMPLETE or trial.value is None:
            continue
        name = str(trial.user_attrs.get("family"))
        current = board.get(name)
        if current is None or (
            trial.value > current if direction == "maximize" else trial.value < current
        ):
            board[name] = float(trial.value)
    return board


def _calibration_method(config: TrainingConfig, y_pos: np.ndarray, proba: np.ndarray) -> str | None:
    """The calibration to apply: the configured one, or under ``auto`` the method whose
    5-fold cross-validated log loss on the validation scores beats the raw scores by
    :data:`CALIBRATION_GAIN` (relative), if any."""
    if config.calibration == "none":
        return None
    if config.calibration != "auto":
        return config.calibration
    if y_pos.min() == y_pos.max() or len(y_pos) < 100:
        return None
    eps = 1e-6
    clipped = np.clip(proba, eps, 1 - eps)
    raw = log_loss(y_pos, clipped, labels=[0, 1])
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    best, best_loss = None, raw * (1 - CALIBRATION_GAIN)
    for method in ("sigmoid", "isotonic"):
        out = np.empty_like(clipped)
        for tr, va in folds.split(clipped, y_pos):
            if method == "sigmoid":
                logit = np.log(clipped / (1 - clipped)).reshape(-1, 1)
                lr = LogisticRegression(C=1e6).fit(logit[tr], y_pos[tr])
                out[va] = lr.predict_proba(logit[va])[:, 1]
            else:
                iso = IsotonicRegression(out_of_bounds="clip", y_min=eps, y_max=1 - eps)
                out[va] = iso.fit(clipped[tr], y_pos[tr]).predict(clipped[va])
        loss = log_loss(y_pos, np.clip(out, eps, 1 - eps), labels=[0, 1])
        if loss < best_loss:
            best, best_loss = method, loss
    return best


def _final_model(
    result: _Scored,
    family: ModelFamily,
    params: dict[str, Any],
    prepared: _Prepared,
    *,
    task: str,
    metric: str,
    config: TrainingConfig,
    seed: int,
) -> dict[str, Any]:
    params = dict(params)
    if result.fitted.best_iteration:
        params["n_estimators"] = result.fitted.best_iteration
    if prepared.refit_all:
        # Cross-validation (or training.refit) scored the parameters; the model is fitted
        # once more on every train + validation row, with the rounds early stopping chose.
        pre, arrays = prepared.refit(family.encoding)
        model = family.fit(task, params, seed, arrays, available_cpus()).model
    else:
        pre, _ = prepared.folds(family.encoding)[0]
        model = result.fitted.model
    steps = [("preprocess", pre), ("model", model)]
    if prepared.front is not None:
        steps.insert(0, ("forecast", prepared.front))
    pipeline = Pipeline(steps)
    threshold: float | None = None
    classes: tuple[Any, ...] | None = None
    calibration: str | None = None
    estimator: Any = pipeline
    if task != "regression":
        classes = tuple(model.classes_.tolist())
    if task == "binary":
        positive = (prepared.y_scored == model.classes_[1]).astype(int)
        proba = result.scores[:, 1]
        if not prepared.refit_all:
            # Calibration is fitted on the validation rows; with a refit on them it would
            # be fitted on rows the model has seen, so it is skipped then.
            calibration = _calibration_method(config, positive, proba)
        if calibration is not None:
            estimator = CalibratedClassifierCV(FrozenEstimator(pipeline), method=calibration)
            estimator.fit(_raw(prepared, prepared.x_valid), prepared.y_valid)
            proba = estimator.predict_proba(_raw(prepared, prepared.x_valid))[:, 1]
        if config.threshold == "cost":
            assert config.costs is not None
            threshold = _min_cost_threshold(
                positive, proba, config.costs.false_positive, config.costs.false_negative
            )
        elif config.threshold == "f1":
            threshold = _best_f1_threshold(positive, proba)
        if threshold is not None:
            estimator = FixedThresholdClassifier(FrozenEstimator(estimator), threshold=threshold)
            sample = _raw(prepared, prepared.x_valid)
            estimator.fit(sample, prepared.y_valid)
    logger.info("best %s=%.4f (%s)", metric, result.value, family.name)
    return {
        "params": params,
        "classes": classes,
        "threshold": threshold,
        "calibration": calibration,
        "estimator": estimator,
    }


def _raw(prepared: _Prepared, rows: pd.DataFrame) -> pd.DataFrame:
    """Rows as the final estimator takes them (binary tasks have no ``front``)."""
    assert prepared.front is None
    return rows[list(prepared.raw_types.columns)]
