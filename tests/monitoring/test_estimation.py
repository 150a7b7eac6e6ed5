"""Label-free estimation: on windows whose labels follow the model's calibrated
probabilities the estimate lands on the realised metric; under a concept shift it does not
move, as documented."""

from __future__ import annotations

import numpy as np
import pandas as pd

from headway.evaluation.metrics import score
from headway.monitoring.estimation import ASSUMPTIONS, estimate, fit_calibrator, reference_scores
from headway.monitoring.reference import LABEL, PARTITION, PREDICTION

CLASSES = ["0", "1"]


def _model_scores(
    rng: np.random.Generator, n: int, *, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A model whose raw probability is an over-confident version of the true one."""
    x = rng.normal(shift, 1.0, n)
    truth = 1 / (1 + np.exp(-(1.2 * x - 1.0)))
    raw = 1 / (1 + np.exp(-(2.5 * x - 2.0)))  # uncalibrated: too sharp
    return truth, raw


def _sample(rng: np.random.Generator, n: int = 8000) -> tuple[pd.DataFrame, np.ndarray]:
    truth, raw = _model_scores(rng, n)
    labels = (rng.random(n) < truth).astype(int).astype(str)
    sample = pd.DataFrame(
        {PREDICTION: raw, LABEL: labels, PARTITION: np.where(np.arange(n) % 2, "valid", "train")}
    )
    return sample, np.column_stack([1 - raw, raw])


def test_estimate_matches_the_realised_metric_under_covariate_shift() -> None:
    rng = np.random.default_rng(1)
    sample, _ = _sample(rng)
    scores = reference_scores(sample, CLASSES)
    assert scores is not None
    calibrator = fit_calibrator(sample, scores, CLASSES)
    assert calibrator is not None
    for shift in (0.0, -1.0, 1.0):
        truth, raw = _model_scores(rng, 5000, shift=shift)
        window = np.column_stack([1 - raw, raw])
        labels = np.where(rng.random(5000) < truth, "1", "0")
        realised_auc = score("roc_auc", labels, window, classes=np.array(CLASSES))
        realised_acc = score("accuracy", labels, window, classes=np.array(CLASSES), threshold=0.5)
        auc = estimate("roc_auc", window, calibrator, threshold=0.5)
        acc = estimate("accuracy", window, calibrator, threshold=0.5)
        assert auc["interval"][0] - 0.01 <= realised_auc <= auc["interval"][1] + 0.01, (
            shift,
            auc,
            realised_auc,
        )
        assert acc["interval"][0] - 0.01 <= realised_acc <= acc["interval"][1] + 0.01, (
            shift,
            acc,
            realised_acc,
        )
        assert auc["assumptions"] == list(ASSUMPTIONS)


def test_estimate_follows_a_covariate_shift_before_labels() -> None:
    rng = np.random.default_rng(2)
    sample, scores = _sample(rng)
    calibrator = fit_calibrator(sample, scores, CLASSES)
    assert calibrator is not None
    _, calm = _model_scores(rng, 4000)
    _, moved = _model_scores(rng, 4000, shift=2.0)  # into the confident region
    before = estimate("accuracy", np.column_stack([1 - calm, calm]), calibrator, threshold=0.5)
    after = estimate("accuracy", np.column_stack([1 - moved, moved]), calibrator, threshold=0.5)
    assert after["interval"][0] > before["interval"][1]


def test_a_pure_concept_shift_is_invisible_to_the_estimate() -> None:
    rng = np.random.default_rng(3)
    sample, scores = _sample(rng)
    calibrator = fit_calibrator(sample, scores, CLASSES)
    assert calibrator is not None
    _, raw = _model_scores(rng, 5000)
    window = np.column_stack([1 - raw, raw])
    flipped = np.where(rng.random(5000) < 0.5, "1", "0")  # labels no longer follow the inputs
    realised_auc = score("roc_auc", flipped, window, classes=np.array(CLASSES))
    estimated = estimate("roc_auc", window, calibrator, threshold=0.5)
    assert realised_auc < 0.55
    assert estimated["interval"][0] > 0.7  # the estimate still believes the old concept


def test_business_value_is_estimated_for_a_binary_model() -> None:
    rng = np.random.default_rng(4)
    sample, scores = _sample(rng)
    calibrator = fit_calibrator(sample, scores, CLASSES)
    assert calibrator is not None
    _, raw = _model_scores(rng, 3000)
    found = estimate(
        "roc_auc",
        np.column_stack([1 - raw, raw]),
        calibrator,
        threshold=0.5,
        business_values={"true_positive": 100.0, "false_positive": -10.0},
    )
    low, high = found["business_value"]["interval"]
    assert low <= found["business_value"]["per_1000"] <= high


def test_too_few_validation_rows_give_no_calibrator() -> None:
    rng = np.random.default_rng(5)
    sample, scores = _sample(rng, n=150)  # 75 validation rows
    assert fit_calibrator(sample, scores, CLASSES) is None


def test_multiclass_scores_come_from_the_per_class_columns() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    proba = rng.dirichlet([2.0, 2.0, 2.0], n)
    labels = np.array([rng.choice(["a", "b", "c"], p=p) for p in proba])
    sample = pd.DataFrame(
        {
            "__proba__:a": proba[:, 0],
            "__proba__:b": proba[:, 1],
            "__proba__:c": proba[:, 2],
            LABEL: labels,
            PARTITION: "valid",
        }
    )
    scores = reference_scores(sample, ["a", "b", "c"])
    assert scores is not None and scores.shape == (n, 3)
    calibrator = fit_calibrator(sample, scores, ["a", "b", "c"])
    assert calibrator is not None
    found = estimate("accuracy", proba[:1000], calibrator, threshold=None)
    realised = float(
        np.mean(np.array(["a", "b", "c"])[proba[:1000].argmax(axis=1)] == labels[:1000])
    )
    assert found["interval"][0] - 0.02 <= realised <= found["interval"][1] + 0.02
