"""The serving fast path gives exactly what the estimator gives, for every family and task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from headway.artifacts import TrainedModel
from headway.config import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.data import split
from headway.datasets import make_churn
from headway.datasets.demand import make_demand
from headway.exceptions import InvalidRequestError
from headway.features.contract import FeatureTypes, coerce_features, model_pipeline
from headway.features.forecast import ForecastFeatures
from headway.serving.fastpath import FastScorer, compile_scorer
from headway.serving.model import ServedModel
from headway.training import train

TARGETS = {"binary": "churned", "multiclass": "plan", "regression": "monthly_charges"}
METRICS = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}
FAMILIES = ["lightgbm", "xgboost", "linear", "random_forest", "extra_trees"]

# (task, family, calibration, threshold)
CASES = [
    *(("binary", f, "none", "f1") for f in ("lightgbm", "linear", "random_forest")),
    *(("binary", f, "none", "none") for f in ("xgboost", "extra_trees")),
    ("binary", "lightgbm", "sigmoid", "none"),
    ("binary", "lightgbm", "isotonic", "f1"),
    ("binary", "xgboost", "sigmoid", "f1"),
    ("binary", "linear", "sigmoid", "f1"),
    ("binary", "linear", "isotonic", "none"),
    ("binary", "random_forest", "isotonic", "f1"),
    ("binary", "extra_trees", "sigmoid", "f1"),
    *(("multiclass", f, "none", "none") for f in FAMILIES),
    *(("regression", f, "none", "none") for f in FAMILIES),
]
Case = tuple[str, str, str, str]


def _table(rows: int = 1200, seed: int = 7) -> pd.DataFrame:
    """Churn rows with missing numbers and categories, and payment methods rarer than the
    one-hot encoder's ``min_frequency`` (grouped as infrequent)."""
    frame = make_churn(rows, seed=seed)
    rng = np.random.default_rng(seed)
    frame.loc[rng.random(rows) < 0.08, "age"] = np.nan
    frame.loc[rng.random(rows) < 0.05, "days_since_last_login"] = np.nan
    for column in ("region", "payment_method"):
        frame[column] = frame[column].astype(object)
    frame.loc[rng.random(rows) < 0.05, "region"] = None
    rare = rng.choice(rows, 9, replace=False)
    frame.loc[rare[:3], "payment_method"] = "crypto"
    frame.loc[rare[3:], "payment_method"] = [f"voucher{i}" for i in range(6)]
    return frame


TABLE = _table()


def _train(case: Case) -> tuple[TrainedModel, pd.DataFrame]:
    task, family, calibration, threshold = case
    target = TARGETS[task]
    data = DataConfig(
        source=SourceConfig(path="x.csv"),
        target=target,
        id_column="customer_id",
        timestamp_column="observed_at",
    )
    parts = split(TABLE, data=data, config=SplitConfig(), task=task, seed=0)
    features = [
        c for c in TABLE.columns if c not in ("customer_id", "observed_at", "churned", target)
    ]
    config = TrainingConfig.model_validate(
        {
            "model_families": [family],
            "budget": {"trials": 1, "timeout_seconds": 60},
            "n_workers": 1,
            "validation": "holdout",  # calibration is fitted on the holdout's rows
            "calibration": calibration,
            "threshold": threshold,
        }
    )
    model = train(
        parts, target=target, features=features, task=task, metric=METRICS[task],
        config=config, seed=0,
    )  # fmt: skip
    return model, parts.test


@pytest.fixture(scope="module")
def trained() -> Callable[[Case], tuple[TrainedModel, pd.DataFrame]]:
    cache: dict[Case, tuple[TrainedModel, pd.DataFrame]] = {}

    def get(case: Case) -> tuple[TrainedModel, pd.DataFrame]:
        if case not in cache:
            cache[case] = _train(case)
        return cache[case]

    return get


def _request(rows: pd.DataFrame, types: FeatureTypes) -> dict[str, list[Any]]:
    """The rows as a JSON request holds them (None for missing, ints for whole numbers),
    with unseen, missing and infrequent categories, missing numbers, numbers as ints and as
    text mixed in."""
    columns: dict[str, list[Any]] = {
        c: [None if pd.isna(v) else v for v in rows[c].tolist()] for c in types.columns
    }
    for i in range(len(rows)):
        if i % 7 == 1:
            columns["region"][i] = "atlantis"
        elif i % 7 == 2:
            columns["contract"][i] = None
        elif i % 7 == 3:
            columns["payment_method"][i] = "crypto"
        elif i % 7 == 4:
            columns["payment_method"][i] = "voucher0"
        if i % 5 == 0:
            columns["age"][i] = None
        elif i % 5 == 1 and "monthly_charges" in columns:
            columns["monthly_charges"][i] = round(columns["monthly_charges"][i])
        if i % 11 == 5:
            columns["total_charges"][i] = "123.5"
        elif i % 11 == 6:
            columns["total_charges"][i] = "n/a"
    return columns


def _rows(case: Case, trained: Any) -> tuple[Any, FastScorer, dict[str, list[Any]], pd.DataFrame]:
    model, test = trained(case)
    scorer = compile_scorer(model.estimator)
    assert isinstance(scorer, FastScorer)
    types = scorer.types
    request = _request(test, types)
    features = coerce_features(pd.DataFrame(request), types)[list(types.columns)]
    return model.estimator, scorer, request, features


CLASSIFIERS = [c for c in CASES if c[0] != "regression"]
REGRESSORS = [c for c in CASES if c[0] == "regression"]
THRESHOLDED = [c for c in CLASSIFIERS if c[3] != "none"]
DICTS = [c for c in CLASSIFIERS if c[3] == "none"]


def _ids(cases: list[Case]) -> list[str]:
    return ["-".join(c) for c in cases]


@pytest.mark.parametrize("case", CLASSIFIERS, ids=_ids(CLASSIFIERS))
def test_fast_classifier_equals_the_estimator(case: Case, trained: Any) -> None:
    estimator, scorer, request, features = _rows(case, trained)
    scores = scorer.scores(request)
    proba = np.asarray(estimator.predict_proba(features))
    assert scores.shape == proba.shape == (len(features), 2 if case[0] == "binary" else 3)
    np.testing.assert_allclose(scores, proba, atol=1e-9, rtol=0)
    labels = scorer.predict(request)["predictions"]
    np.testing.assert_array_equal(np.asarray(labels), estimator.predict(features))
    assert (scorer.threshold is not None) == (case[3] != "none")
    assert len(set(labels)) > 1  # the rows exercise more than one label


@pytest.mark.parametrize("case", REGRESSORS, ids=_ids(REGRESSORS))
def test_fast_regressor_equals_the_estimator(case: Case, trained: Any) -> None:
    estimator, scorer, request, features = _rows(case, trained)
    expected = np.asarray(estimator.predict(features))
    scores = scorer.scores(request)
    assert scores.shape == expected.shape == (len(features),)
    np.testing.assert_allclose(scores, expected, atol=1e-9, rtol=0)
    served = ServedModel("models:/m/1", "m", "1", estimator, scorer.types)._predict(features)
    fast = scorer.predict(request)
    assert set(fast) == set(served) == {"predictions"}
    np.testing.assert_allclose(fast["predictions"], served["predictions"], atol=1e-9, rtol=0)


def _served(case: Case, trained: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    estimator, scorer, request, features = _rows(case, trained)
    served = ServedModel("models:/m/1", "m", "1", estimator, scorer.types)
    return scorer.predict(request), served._predict(features)


@pytest.mark.parametrize("case", THRESHOLDED, ids=_ids(THRESHOLDED))
def test_fast_path_answers_as_the_server_does_with_a_threshold(case: Case, trained: Any) -> None:
    fast, expected = _served(case, trained)
    assert set(fast) == set(expected) == {"predictions", "probabilities"}
    assert fast["predictions"] == expected["predictions"]
    # the positive class's probability, rounded
    np.testing.assert_allclose(fast["probabilities"], expected["probabilities"], atol=1e-6, rtol=0)


@pytest.mark.parametrize("case", DICTS, ids=_ids(DICTS))
def test_fast_path_answers_as_the_server_does(case: Case, trained: Any) -> None:
    fast, expected = _served(case, trained)
    assert set(fast) == set(expected) == {"predictions", "probabilities"}
    assert fast["predictions"] == expected["predictions"]
    got, want = fast["probabilities"], expected["probabilities"]
    assert [list(p) for p in got] == [list(p) for p in want]
    np.testing.assert_allclose(
        [list(p.values()) for p in got], [list(p.values()) for p in want], atol=1e-6, rtol=0
    )


@pytest.mark.parametrize(
    "case", [("binary", "lightgbm", "sigmoid", "none"), ("multiclass", "linear", "none", "none")]
)
def test_fast_path_takes_a_frame_and_single_rows(case: Case, trained: Any) -> None:
    estimator, scorer, request, features = _rows(case, trained)
    frame = pd.DataFrame(request)
    expected = np.asarray(estimator.predict_proba(features))
    np.testing.assert_allclose(scorer.scores(frame), expected, atol=1e-9, rtol=0)
    for i in range(0, len(features), 17):
        one = {c: values[i : i + 1] for c, values in request.items()}
        np.testing.assert_allclose(scorer.scores(one), expected[i : i + 1], atol=1e-9, rtol=0)
        arrays = {c: np.asarray(values[i : i + 1]) for c, values in request.items()}
        np.testing.assert_allclose(scorer.scores(arrays), expected[i : i + 1], atol=1e-9, rtol=0)


def test_one_hot_tables_group_infrequent_and_ignore_unseen(trained: Any) -> None:
    model, _ = trained(("multiclass", "linear", "none", "none"))
    scorer = compile_scorer(model.estimator)
    assert scorer is not None
    (payment,) = [b for b in scorer.categorical if b.column == "payment_method"]
    crypto, voucher = (
        payment.table[payment.index["crypto"]],
        payment.table[payment.index["voucher0"]],
    )
    np.testing.assert_array_equal(crypto, voucher)  # one infrequent column
    assert crypto.sum() == 1.0
    assert not payment.table[payment.unseen].any()  # unseen: all zeros
    (region,) = [b for b in scorer.categorical if b.column == "region"]
    assert region.table[region.missing].sum() == 1.0  # missing was seen: its own column


def test_bad_requests_are_invalid(trained: Any) -> None:
    _, scorer, request, _ = _rows(("binary", "lightgbm", "none", "f1"), trained)
    without = {c: v for c, v in request.items() if c != "plan"}
    with pytest.raises(InvalidRequestError, match="plan"):
        scorer.scores(without)
    short = dict(request, tenure_months=request["tenure_months"][:-1])
    with pytest.raises(InvalidRequestError, match="tenure_months"):
        scorer.scores(short)


def test_forecasting_models_keep_the_estimator() -> None:
    frame = make_demand(600, n_stores=2, n_products=3, seed=3)
    data = DataConfig(
        source=SourceConfig(path="x.csv"), target="units_sold", timestamp_column="date"
    )
    front = ForecastFeatures(
        series_columns=["store_id", "product_id"], timestamp_column="date",
        target="units_sold", horizon=7, windows=[7],
    ).fit(frame)  # fmt: skip
    parts = split(frame, data=data, config=SplitConfig(), task="regression", seed=0)
    config = TrainingConfig.model_validate(
        {"model_families": ["lightgbm"], "budget": {"trials": 1}, "n_workers": 1}
    )
    model = train(
        parts, target="units_sold", features=[c for c in frame.columns if c != "units_sold"],
        task="regression", metric="rmse", config=config, seed=0, front=front,
    )  # fmt: skip
    assert "forecast" in model_pipeline(model.estimator).named_steps
    assert compile_scorer(model.estimator) is None


def test_other_estimators_keep_the_estimator(trained: Any) -> None:
    model, test = trained(("binary", "lightgbm", "none", "f1"))
    x = np.random.default_rng(0).normal(size=(50, 3))
    y = (x[:, 0] > 0).astype(int)
    plain = LogisticRegression().fit(x, y)
    assert compile_scorer(plain) is None
    assert compile_scorer(Pipeline([("scale", StandardScaler()), ("model", plain)])) is None
    # A headway pipeline whose model is of a family the fast path does not know.
    pipeline = model_pipeline(model.estimator)
    pre = pipeline.named_steps["preprocess"]
    tree = DecisionTreeClassifier(max_depth=3, random_state=0)
    tree.fit(pre.transform(test), test["churned"])
    unknown = Pipeline([("preprocess", pre), ("model", tree)])
    assert compile_scorer(unknown) is None
    assert compile_scorer(pipeline) is not None  # the same pipeline with its own model
