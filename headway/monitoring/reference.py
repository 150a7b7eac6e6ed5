"""The reference of a model version: what "normal" looked like when it was trained.

Built once at registration from the version's training and validation partitions and
logged with the version's run (``monitoring/reference.json`` and
``monitoring/reference_sample.parquet``, declared in :mod:`headway.registry.layout`):

- a sketch per input column, of the model's output (the positive class's probability of a
  binary classifier, the predicted class of a multiclass one, the predicted value of a
  regression or forecast) and of the label (:mod:`headway.monitoring.sketch`);
- a sample of the rows (at most ``sample_rows``, seeded) with the model's output, label
  and partition: chunks of it give data-driven thresholds, it trains the multivariate
  check, and its validation rows calibrate the label-free estimate.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from headway.monitoring.sketch import ColumnSketch, Kind, sketch_column

__all__ = [
    "LABEL",
    "PARTITION",
    "PREDICTION",
    "PROBA",
    "SAMPLE_ROWS",
    "Reference",
    "build_reference",
    "model_output",
]

# Columns of the reference sample beside the inputs.
PREDICTION = "__prediction__"
LABEL = "__label__"
PARTITION = "__partition__"
# A multiclass model's probability of each class: ``__proba__:<class>``.
PROBA = "__proba__:"
SAMPLE_ROWS = 20_000
FORMAT = 1


def model_output(task: str, scores: np.ndarray, classes: Sequence[Any] | None) -> np.ndarray:
    """What drift watches of a model's scores: the positive class's probability (binary),
    the predicted class (multiclass, as text) or the value (regression, forecast)."""
    scores = np.asarray(scores)
    if task == "binary":
        return scores[:, 1].astype(float) if scores.ndim == 2 else scores.astype(float)
    if task == "multiclass":
        assert classes is not None
        return np.asarray([str(c) for c in np.asarray(classes)[np.argmax(scores, axis=1)]])
    return scores.astype(float)


@dataclass(frozen=True)
class Reference:
    """The reference of one model version.

    Attributes:
        task: the version's task.
        features: the sketch of each input column, in the model's column order.
        prediction: the sketch of the model's output (see :func:`model_output`).
        label: the sketch of the label.
        rows: rows the sketches summarise (training + validation).
        sample: the sampled rows: inputs, ``__prediction__``, ``__label__`` and
            ``__partition__`` (``train`` or ``valid``).
        classes: the classes of a classifier, in score order (as text).
        threshold: the decision threshold of a binary classifier.
        importance: mean |SHAP| per input column, from the version's evaluation.
        metrics: the version's test metrics at evaluation.
        created_at: when the reference was built (UTC).
    """

    task: str
    features: dict[str, ColumnSketch]
    prediction: ColumnSketch
    label: ColumnSketch
    rows: int
    sample: pd.DataFrame
    classes: list[str] | None = None
    threshold: float | None = None
    importance: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "task": self.task,
                "rows": self.rows,
                "created_at": self.created_at.isoformat(),
                "classes": self.classes,
                "threshold": self.threshold,
                "importance": self.importance,
                "metrics": self.metrics,
                "features": [s.to_dict() for s in self.features.values()],
                "prediction": self.prediction.to_dict(),
                "label": self.label.to_dict(),
            },
            indent=1,
        )

    def sample_parquet(self) -> bytes:
        buffer = io.BytesIO()
        self.sample.to_parquet(buffer, index=False)
        return buffer.getvalue()

    @classmethod
    def from_files(cls, sketches: str, sample: bytes | None) -> Reference:
        data = json.loads(sketches)
        if data.get("format") != FORMAT:
            raise ValueError(
                f"reference format {data.get('format')!r} is not {FORMAT}; rebuild it with "
                "this headway"
            )
        frame = pd.read_parquet(io.BytesIO(sample)) if sample else pd.DataFrame()
        features = [ColumnSketch.from_dict(s) for s in data["features"]]
        return cls(
            task=data["task"],
            features={s.column: s for s in features},
            prediction=ColumnSketch.from_dict(data["prediction"]),
            label=ColumnSketch.from_dict(data["label"]),
            rows=int(data["rows"]),
            sample=frame,
            classes=data.get("classes"),
            threshold=data.get("threshold"),
            importance={str(k): float(v) for k, v in (data.get("importance") or {}).items()},
            metrics={str(k): float(v) for k, v in (data.get("metrics") or {}).items()},
            created_at=datetime.fromisoformat(data["created_at"]),
        )


def _label_kind(task: str) -> Kind:
    return "categorical" if task in ("binary", "multiclass") else "numeric"


def build_reference(
    frame: pd.DataFrame,
    *,
    task: str,
    features: Sequence[str],
    categorical: Sequence[str],
    target: str,
    scores: np.ndarray,
    partition: Sequence[str] | np.ndarray,
    classes: Sequence[Any] | None = None,
    threshold: float | None = None,
    importance: dict[str, float] | None = None,
    metrics: dict[str, float] | None = None,
    sample_rows: int = SAMPLE_ROWS,
    seed: int = 0,
) -> Reference:
    """The reference of a version from its training and validation rows.

    Args:
        frame: the training and validation rows (inputs and target).
        task: the version's task.
        features: the model's input columns, in order.
        categorical: the input columns the model treats as categories.
        target: the label column.
        scores: the model's scores on ``frame`` (probabilities ``n x k`` or values).
        partition: ``train`` or ``valid`` per row of ``frame``.
        classes: a classifier's classes, in score order.
        threshold: a binary classifier's decision threshold.
        importance: mean |SHAP| per input column.
        metrics: the version's test metrics.
        sample_rows: most rows kept in the sample.
        seed: seed of the sample.

    Raises:
        ValueError: a feature or the target is missing from ``frame``, or ``scores`` or
            ``partition`` do not have one entry per row.
    """
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are missing from the reference rows")
    if len(scores) != len(frame) or len(partition) != len(frame):
        raise ValueError(
            f"scores ({len(scores)}) and partition ({len(partition)}) must have one entry "
            f"per reference row ({len(frame)})"
        )
    cats = set(categorical)
    sketches = {
        c: sketch_column(frame[c], kind="categorical" if c in cats else None) for c in features
    }
    output = pd.Series(model_output(task, scores, classes), name=PREDICTION)
    labels = frame[target].reset_index(drop=True)
    label_kind = _label_kind(task)
    sample = frame[list(features)].reset_index(drop=True).copy()
    sample[PREDICTION] = output
    sample[LABEL] = labels.astype(str) if label_kind == "categorical" else labels.astype(float)
    sample[PARTITION] = np.asarray(partition, dtype=object)
    if task == "multiclass" and classes is not None:
        for i, name in enumerate(classes):
            sample[f"{PROBA}{name}"] = np.asarray(scores, dtype=float)[:, i]
    if len(sample) > sample_rows:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(len(sample), size=sample_rows, replace=False))
        sample = sample.iloc[keep].reset_index(drop=True)
    for column in sample.columns:
        if isinstance(sample[column].dtype, pd.CategoricalDtype):
            sample[column] = sample[column].astype(object)
    return Reference(
        task=task,
        features=sketches,
        prediction=sketch_column(output, kind="categorical" if task == "multiclass" else "numeric"),
        label=sketch_column(labels.rename(LABEL), kind=label_kind),
        rows=len(frame),
        sample=sample,
        classes=[str(c) for c in classes] if classes is not None else None,
        threshold=threshold,
        importance=dict(importance or {}),
        metrics=dict(metrics or {}),
    )
