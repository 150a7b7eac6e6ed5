"""What a rollout has seen so far: the candidate and the champion on the same traffic.

:func:`observe` reads the prediction log from the rollout's start and returns an
:class:`Observation`:

- **the online metric**: for every labelled row, a per-row value of the rollout's metric
  (``brier``: the squared gap between the probability and the 0/1 label, binary;
  ``accuracy``: 1 when the prediction equals the label; ``absolute_error``,
  ``squared_error``), summarised per version as :class:`~headway.automation.sequential.Moments`
  and compared by the always-valid test (:func:`~headway.automation.sequential.msprt`): the
  champion's rows that it answered, the candidate's rows that it answered (canary, ab) or
  scored in the shadow of a labelled champion row (see :func:`split_arms`);
- **guardrails**: rows per version, p99 latency per version, and the Jensen-Shannon
  distance between their predictions (the same traffic, so a large distance means the
  candidate behaves differently, e.g. a feature missing at serving time); the error rate
  comes from the servers' ``/metrics`` (:func:`scrape_errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import numpy as np
import pandas as pd

from headway.automation.sequential import Moments

__all__ = [
    "ErrorCounts",
    "Observation",
    "js_distance",
    "online_metric",
    "per_row_metric",
    "positive_class",
    "scrape_errors",
    "split_arms",
]

logger = logging.getLogger(__name__)

HIGHER_IS_BETTER = {
    "accuracy": True,
    "brier": False,
    "absolute_error": False,
    "squared_error": False,
}


def online_metric(configured: str, task: str) -> str:
    """The per-row metric of a rollout: ``configured``, or for ``auto`` the Brier score
    (binary: threshold-free, so a candidate is not judged on its decision threshold),
    accuracy (multiclass) or absolute error (regression, forecast)."""
    if configured != "auto":
        if configured == "brier" and task != "binary":
            raise ValueError(
                f"automation.rollout.metric: brier needs a binary task, not {task!r}; use "
                "accuracy for multiclass, absolute_error or squared_error for numbers"
            )
        if configured == "accuracy" and task not in ("binary", "multiclass"):
            raise ValueError(
                f"automation.rollout.metric: accuracy needs a classification task, not "
                f"{task!r}; use absolute_error or squared_error"
            )
        if configured not in ("accuracy", "brier") and task in ("binary", "multiclass"):
            raise ValueError(
                f"automation.rollout.metric: {configured} needs a numeric target; use "
                "accuracy for a classification task"
            )
        return configured
    if task == "binary":
        return "brier"
    return "accuracy" if task == "multiclass" else "absolute_error"


def per_row_metric(
    metric: str,
    predictions: pd.Series,
    labels: pd.Series,
    probabilities: pd.Series | None = None,
    *,
    positive: Any = None,
) -> np.ndarray:
    """The metric of each row (labels present).

    ``brier``: ``(p - y)^2`` with ``p`` the logged probability of the positive class and
    ``y`` 1 when the label is ``positive`` (see :func:`positive_class`).

    Raises:
        ValueError: an unknown metric, labels that are not numbers for an error metric, or
            ``brier`` without probabilities.
    """
    if metric == "brier":
        if probabilities is None or positive is None:
            raise ValueError("brier needs the logged probabilities and the positive class")
        p = pd.to_numeric(probabilities, errors="coerce").to_numpy(float)
        y = np.asarray([_same(v, positive) for v in labels], dtype=float)
        if np.isnan(p).any():
            raise ValueError("brier needs a probability on every labelled row")
        return np.asarray((p - y) ** 2, dtype=float)
    if metric == "accuracy":
        return np.asarray(
            [_same(p, y) for p, y in zip(predictions, labels, strict=True)], dtype=float
        )
    if metric in ("absolute_error", "squared_error"):
        try:
            diff = pd.to_numeric(predictions).to_numpy(float) - pd.to_numeric(labels).to_numpy(
                float
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{metric} needs numeric predictions and labels: {exc}") from exc
        return np.abs(diff) if metric == "absolute_error" else diff**2
    raise ValueError(f"unknown online metric {metric!r}")


def positive_class(frame: pd.DataFrame) -> Any:
    """The class a binary model's logged ``probability`` is about: the prediction of the
    row with the highest probability (``None`` when no row has a probability)."""
    best, found = -1.0, None
    for outputs in frame["outputs"]:
        p = outputs.get("probability")
        if isinstance(p, int | float) and p > best:
            best, found = float(p), outputs.get("prediction")
    return found


def _same(prediction: Any, label: Any) -> float:
    if prediction == label:
        return 1.0
    try:  # a label sent as 1 for a prediction of 1.0, or "1" for 1
        return float(float(prediction) == float(label))
    except (TypeError, ValueError):
        return float(str(prediction) == str(label))


def js_distance(a: np.ndarray, b: np.ndarray, *, bins: int = 10) -> float | None:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two samples of predictions:
    numbers with many distinct values on the union of both samples' quantile bins, class
    labels and other few-valued outputs by value. ``None`` when either is empty."""
    if len(a) == 0 or len(b) == 0:
        return None
    from headway.monitoring.drift import js_distance as distance

    numeric_a = pd.to_numeric(pd.Series(a), errors="coerce")
    numeric_b = pd.to_numeric(pd.Series(b), errors="coerce")
    few = len(set(numeric_a.tolist()) | set(numeric_b.tolist())) <= 2 * bins
    if numeric_a.notna().all() and numeric_b.notna().all() and not few:
        # Edges from each sample's own quantiles: a small sample (a 5% canary) gets bins of
        # its own instead of vanishing inside one bin of the larger one.
        levels = np.linspace(0, 1, bins + 1)
        edges = np.unique(
            np.concatenate(
                [
                    np.quantile(numeric_a.to_numpy(float), levels),
                    np.quantile(numeric_b.to_numpy(float), levels),
                ]
            )
        )
        if len(edges) < 2:
            return 0.0
        p = np.histogram(np.clip(numeric_a, edges[0], edges[-1]), edges)[0]
        q = np.histogram(np.clip(numeric_b, edges[0], edges[-1]), edges)[0]
    else:
        values = sorted({str(v) for v in (*a, *b)})
        p = pd.Series([str(v) for v in a]).value_counts().reindex(values, fill_value=0).to_numpy()
        q = pd.Series([str(v) for v in b]).value_counts().reindex(values, fill_value=0).to_numpy()
    return distance(np.asarray(p), np.asarray(q))


@dataclass(frozen=True)
class ErrorCounts:
    """Counters of the candidate read from the servers' ``/metrics``: requests it answered
    or shadowed, and requests it failed (fell back, or failed as a shadow)."""

    requests: float
    errors: float
    servers: int


def scrape_errors(urls: Sequence[str], *, model: str, version: str) -> ErrorCounts | None:
    """Sum the candidate's counters over the servers at ``urls`` (``None``: no URL, or no
    server answered). A server that does not answer is logged and left out."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = errors = 0.0
    answered = 0
    for url in urls:
        try:
            text = httpx.get(url.rstrip("/") + "/metrics", timeout=5.0).text
        except httpx.HTTPError as exc:
            logger.warning("cannot read %s/metrics: %s", url, type(exc).__name__)
            continue
        answered += 1
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = sample.labels
                if labels.get("version") != version or not sample.name.endswith("_total"):
                    continue
                if family.name == "headway_routed_requests" and labels.get("model") == model:
                    requests += sample.value
                elif family.name in ("headway_fallbacks", "headway_shadow_errors"):
                    errors += sample.value
    return ErrorCounts(requests, errors, answered) if answered else None


@dataclass(frozen=True)
class Arm:
    """One version's side of a rollout: its rows, labelled rows' metric, latency."""

    version: str
    rows: int
    metric: Moments
    p99_latency_ms: float | None
    predictions: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Observation:
    """The two arms of a rollout since ``since``, and the candidate's rows in this step."""

    since: datetime
    until: datetime
    metric: str
    champion: Arm
    candidate: Arm
    candidate_rows_in_step: int
    prediction_shift: float | None
    errors: ErrorCounts | None = None

    def as_dict(self) -> dict[str, Any]:
        def arm(a: Arm) -> dict[str, Any]:
            return {
                "version": a.version,
                "rows": a.rows,
                "labelled": a.metric.n,
                "metric_mean": a.metric.mean if a.metric.n else None,
                "p99_latency_ms": a.p99_latency_ms,
            }

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "metric": self.metric,
            "champion": arm(self.champion),
            "candidate": arm(self.candidate),
            "candidate_rows_in_step": self.candidate_rows_in_step,
            "prediction_shift": self.prediction_shift,
        }


def split_arms(
    rows: pd.DataFrame,
    *,
    model: str,
    champion: str,
    candidate: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The champion's and the candidate's rows of a log frame (:meth:`joined`): each
    version's own answers, plus the candidate's shadow scores carrying the label of the
    champion row they shadowed."""
    mine = rows[rows["model_name"] == model]
    champ = mine[(mine["model_version"] == champion) & (mine["route"] != "shadow")]
    cand = mine[(mine["model_version"] == candidate) & (mine["route"] != "batch")]
    return champ.reset_index(drop=True), _shadow_labels(cand, champ)


def _shadow_labels(candidate: pd.DataFrame, champion: pd.DataFrame) -> pd.DataFrame:
    """The candidate's rows, where a shadow row takes the label of its champion row.

    The server logs a shadow row under the champion row's id with the suffix
    ``SHADOW_SUFFIX`` (see :mod:`headway.serving.state`), so that the label sent for the
    champion's answer also scores the candidate's answer to the same input: a paired
    comparison that reaches no user.
    """
    from headway.predictions.base import SHADOW_SUFFIX

    shadow = candidate["route"] == "shadow"
    if not shadow.any():
        return candidate.reset_index(drop=True)
    out = candidate.copy()
    twins = out.loc[shadow, "prediction_id"].astype(str).str.removesuffix(SHADOW_SUFFIX)
    labels = champion.set_index("prediction_id")["label"]
    out.loc[shadow, "label"] = twins.map(labels).to_numpy()
    return out.reset_index(drop=True)


def arm(frame: pd.DataFrame, version: str, metric: str, *, positive: Any = None) -> Arm:
    """One arm's summary from its rows."""
    labelled = frame[frame["label"].notna()]
    if len(labelled):
        values = per_row_metric(
            metric,
            pd.Series([o.get("prediction") for o in labelled["outputs"]]),
            labelled["label"].reset_index(drop=True),
            pd.Series([o.get("probability") for o in labelled["outputs"]]),
            positive=positive,
        )
    else:
        values = np.asarray([], dtype=float)
    latency = frame["latency_ms"].to_numpy(float) if len(frame) else np.asarray([])
    return Arm(
        version=version,
        rows=len(frame),
        metric=Moments.of(values),
        p99_latency_ms=float(np.quantile(latency, 0.99)) if len(latency) else None,
        predictions=_scores(frame),
    )


def _scores(frame: pd.DataFrame) -> np.ndarray:
    """What the prediction-shift guardrail compares: the probability when there is one
    (binary), else the prediction."""
    if not len(frame):
        return np.asarray([], dtype=object)
    first = frame["outputs"].iloc[0]
    key = "probability" if isinstance(first.get("probability"), int | float) else "prediction"
    return np.asarray([o.get(key) for o in frame["outputs"]], dtype=object)


def observe(
    rows: pd.DataFrame,
    *,
    model: str,
    champion: str,
    candidate: str,
    metric: str,
    since: datetime,
    until: datetime,
    step_since: datetime,
    errors: ErrorCounts | None = None,
) -> Observation:
    """The rollout's :class:`Observation` from the log rows of ``[since, until)``."""
    champ, cand = split_arms(rows, model=model, champion=champion, candidate=candidate)
    in_step = int((pd.to_datetime(cand["timestamp"], utc=True) >= step_since).sum())
    positive = positive_class(pd.concat([champ, cand])) if metric == "brier" else None
    champion_arm = arm(champ, champion, metric, positive=positive)
    candidate_arm = arm(cand, candidate, metric, positive=positive)
    return Observation(
        since=since,
        until=until,
        metric=metric,
        champion=champion_arm,
        candidate=candidate_arm,
        candidate_rows_in_step=in_step,
        prediction_shift=js_distance(champion_arm.predictions, candidate_arm.predictions),
        errors=errors,
    )
