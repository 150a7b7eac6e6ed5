"""Group fairness (fairlearn) and SHAP explanations per raw column, on small real models."""

from __future__ import annotations

import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.pipeline import Pipeline

from headway import ConfigError
from headway.artifacts import TrainedModel
from headway.config import DataConfig, SourceConfig, SplitConfig, TrainingConfig
from headway.data import Split, split
from headway.datasets import make_churn, make_demand
from headway.evaluation.explain import (
    Explainer,
    encoded_owners,
    explain_rows,
    global_importance,
    importance_figure,
)
from headway.evaluation.fairness import (
    MISSING_GROUP,
    FairnessReport,
    check_sensitive_columns,
    fairness_report,
)
from headway.features.contract import (
    build_preprocessor,
    coerce_features,
    infer_feature_types,
    model_pipeline,
)
from headway.features.forecast import ForecastFeatures
from headway.training import train

# -- fairness ----------------------------------------------------------------------------

GROUPS = pd.DataFrame({"region": ["a", "a", "a", "a", "b", "b", "b", None]})
Y = np.array([1, 0, 1, 0, 1, 1, 0, 0])
P = np.array([0.9, 0.1, 0.2, 0.3, 0.8, 0.7, 0.6, 0.45])


def test_binary_selection_rates_and_demographic_parity_are_exact() -> None:
    scores = np.column_stack([1 - P, P])
    # groups of 1 to 4 rows: gated only when the minimum group size allows it
    report = fairness_report(
        "binary", GROUPS, Y, scores, column="region", classes=[0, 1], threshold=0.5,
        min_group_size=1,
    )  # fmt: skip
    assert isinstance(report, FairnessReport) and report.column == "region"
    # predicted positive: a -> [1, 0, 0, 0], b -> [1, 1, 1], missing -> [0]
    a, b, missing = (report.by_group[g] for g in ("a", "b", MISSING_GROUP))
    assert list(report.by_group) == [MISSING_GROUP, "a", "b"]
    assert (a["n"], b["n"], missing["n"]) == (4, 3, 1)
    assert a["selection_rate"] == pytest.approx(0.25)
    assert b["selection_rate"] == pytest.approx(1.0)
    assert missing["selection_rate"] == 0.0
    assert report.demographic_parity_difference == pytest.approx(1.0)
    assert a["accuracy"] == pytest.approx(0.75) and b["accuracy"] == pytest.approx(2 / 3)
    assert a["roc_auc"] == pytest.approx(0.75) and b["roc_auc"] == pytest.approx(1.0)
    # the missing group has no positive: no true positive rate, no AUC
    assert "true_positive_rate" not in missing and "roc_auc" not in missing
    # by default (30 rows at least) none of these groups is gated: the gap is undefined
    default = fairness_report("binary", GROUPS, Y, scores, column="region", classes=[0, 1])
    assert default.by_group == report.by_group
    assert np.isnan(default.demographic_parity_difference) and default.gated_groups == ()
    assert default.excluded_groups == (MISSING_GROUP, "a", "b")
    # a lower threshold selects the missing row too; the positive probability alone works
    low = fairness_report("binary", GROUPS, Y, P, column="region", threshold=0.4)
    assert low.by_group[MISSING_GROUP]["selection_rate"] == 1.0
    assert low.to_dict()["by_group"]["a"]["selection_rate"] == pytest.approx(0.25)


def test_equalized_odds_on_a_hand_made_case() -> None:
    frame = pd.DataFrame({"sex": ["f"] * 4 + ["m"] * 4})
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    pred = np.array([1, 0, 0, 0, 1, 1, 1, 0]).astype(float)  # as probabilities 0 / 1
    report = fairness_report(
        "binary", frame, y, pred, column="sex", classes=[0, 1], min_group_size=4
    )
    f, m = report.by_group["f"], report.by_group["m"]
    assert (f["true_positive_rate"], m["true_positive_rate"]) == (0.5, 1.0)
    assert (f["false_positive_rate"], m["false_positive_rate"]) == (0.0, 0.5)
    assert report.equalized_odds_difference == pytest.approx(0.5)  # max(0.5, 0.5)
    assert report.demographic_parity_difference == pytest.approx(0.75 - 0.25)
    # string labels: classes[1] is the positive class
    labels = np.where(y == 1, "yes", "no")
    again = fairness_report(
        "binary", frame, labels, pred, column="sex", classes=["no", "yes"], min_group_size=4
    )
    assert again.equalized_odds_difference == pytest.approx(0.5)


def test_multiclass_and_regression_branches() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    proba = np.eye(3)[[0, 1, 1, 1]]
    multi = fairness_report(
        "multiclass", frame, np.array(["x", "y", "y", "z"]), proba, column="g",
        classes=["x", "y", "z"], min_group_size=2,
    )  # fmt: skip
    assert multi.equalized_odds_difference is None
    assert multi.by_group["a"]["selection_rate[x]"] == 0.5
    assert multi.by_group["b"]["selection_rate[y]"] == 1.0
    assert multi.demographic_parity_difference == pytest.approx(0.5)
    assert multi.by_group["b"]["accuracy"] == 0.5

    y = np.array([1.0, 2.0, 3.0, 10.0])
    s = np.array([1.0, 3.0, 5.0, 9.0])  # median 4: only group b is above it
    reg = fairness_report("regression", frame, y, s, column="g", min_group_size=2)
    assert reg.equalized_odds_difference is None
    assert reg.demographic_parity_difference == pytest.approx(1.0)
    assert reg.by_group["a"] == {"n": 2, "selection_rate": 0.0, "mean_prediction": 2.0, "mae": 0.5}
    assert reg.by_group["b"]["mean_prediction"] == 7.0 and reg.by_group["b"]["mae"] == 1.5


def test_unknown_sensitive_column_is_a_config_error_with_a_suggestion() -> None:
    check_sensitive_columns(["region", "plan"], ["region"])
    with pytest.raises(ConfigError) as info:
        check_sensitive_columns(["region", "plan", "age"], ["regoin", "zzz"])
    message = str(info.value)
    assert "'regoin'" in message and "did you mean 'region'?" in message and "'zzz'" in message
    assert "evaluation.sensitive_columns" in message and "headway.yaml" in message
    with pytest.raises(ConfigError, match="did you mean 'region'"):
        fairness_report("binary", GROUPS, Y, P, column="regon")


# -- explanations ------------------------------------------------------------------------

DATA = DataConfig(
    source=SourceConfig(path="x.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)
# Fixed, reasonable parameters (replayed, not searched): fast and deterministic.
REPLAY = {
    "lightgbm": {
        "lightgbm.learning_rate": 0.05,
        "lightgbm.num_leaves": 8,
        "lightgbm.min_child_samples": 40,
        "lightgbm.subsample": 0.8,
        "lightgbm.colsample_bytree": 0.8,
        "lightgbm.reg_lambda": 1.0,
        "lightgbm.reg_alpha": 0.01,
    },
    "linear": {"linear.C": 1.0},
}


def _config(family: str) -> TrainingConfig:
    return TrainingConfig.model_validate(
        {
            "model_families": [family],
            "budget": {"trials": 1, "timeout_seconds": 60},
            "validation": "holdout",
            "class_weight": "none",
            "n_workers": 1,
        }
    )


# The split, the feature columns (with a column of pure noise), a model per family.
Churn = tuple[Split, list[str], dict[str, TrainedModel]]


@pytest.fixture(scope="module")
def churn() -> Churn:
    frame = make_churn(2000, seed=1)
    frame["noise"] = np.random.default_rng(5).normal(size=len(frame))
    features = [c for c in frame.columns if c not in ("customer_id", "observed_at", "churned")]
    parts = split(frame, data=DATA, config=SplitConfig(), task="binary", seed=0)
    models = {}
    for family in ("lightgbm", "linear"):
        models[family] = train(
            parts, target="churned", features=features, task="binary", metric="roc_auc",
            config=_config(family), seed=0, replay=REPLAY[family],
        )  # fmt: skip
    return parts, features, models


@pytest.mark.parametrize("family", ["lightgbm", "linear"])
def test_global_importance_per_raw_column(churn: Churn, family: str) -> None:
    parts, features, models = churn
    importance = global_importance(models[family].estimator, parts.test)
    assert set(importance) == set(features)  # raw columns, not one-hot or indicator columns
    values = list(importance.values())
    assert all(v >= 0 for v in values) and values == sorted(values, reverse=True)
    ranking = list(importance)
    # the churn generator's strongest drivers: contract type above all, then tickets
    assert ranking[0] == "contract"
    assert ranking.index("support_tickets_90d") < 6
    # pure noise: far below the top driver, in the lower half
    assert importance["noise"] < 0.4 * importance["contract"]
    assert ranking.index("noise") >= len(ranking) // 2
    # a sample of the rows gives much the same picture
    sampled = global_importance(models[family].estimator, parts.test, max_rows=200, seed=1)
    assert next(iter(sampled)) == "contract"


def test_lightgbm_contributions_add_up_to_the_raw_margin(churn: Churn) -> None:
    parts, features, models = churn
    estimator = models["lightgbm"].estimator
    rows = parts.test.head(25)
    explainer = Explainer(estimator)
    booster = model_pipeline(estimator).named_steps["model"]
    margin = booster.predict(explainer.transform(rows), raw_score=True)

    full = explain_rows(estimator, rows, top=len(features))
    assert all(set(row) == set(features) for row in full)
    totals = np.array([sum(row.values()) for row in full])
    np.testing.assert_allclose(totals + explainer.expected_value, margin, atol=1e-4)

    top = explainer.explain(rows, top=3)
    for row, everything in zip(top, full, strict=True):
        assert len(row) == 3
        magnitudes = [abs(v) for v in row.values()]
        assert magnitudes == sorted(magnitudes, reverse=True)
        # the largest three of all contributions, signed
        largest = sorted(everything.items(), key=lambda kv: -abs(kv[1]))[:3]
        assert row == pytest.approx(dict(largest))
    assert any(v < 0 for row in top for v in row.values())
    assert any(v > 0 for row in top for v in row.values())


def test_linear_contributions_add_up_to_the_decision_function(churn: Churn) -> None:
    parts, features, models = churn
    estimator = models["linear"].estimator
    rows = parts.test.head(10)
    for background in (parts.train, None):  # training mean, or the all-zero encoded row
        explainer = Explainer(estimator, background)
        logit = (
            model_pipeline(estimator)
            .named_steps["model"]
            .decision_function(explainer.transform(rows))
        )
        contributions = explainer.contributions(rows)
        assert contributions.shape == (10, len(features))
        np.testing.assert_allclose(
            contributions.sum(axis=1) + explainer.expected_value, logit, atol=1e-8
        )


def test_one_hot_and_indicator_columns_trace_to_their_raw_column(churn: Churn) -> None:
    _, features, models = churn
    pre = model_pipeline(models["linear"].estimator).named_steps["preprocess"]
    inputs, owners = encoded_owners(pre)
    assert set(inputs) == set(features) and len(owners) == len(pre.get_feature_names_out())
    names = dict(zip(pre.get_feature_names_out(), owners, strict=True))
    assert names["contract_month-to-month"] == "contract"
    assert names["payment_method_nan"] == "payment_method"
    assert names["missingindicator_age"] == "age" and names["age"] == "age"


def test_multiclass_model_importance_and_rows() -> None:
    # A bare pipeline, built by hand (string classes, few trees): what train() assembles.
    frame = make_churn(1500, seed=2)
    roles = ("customer_id", "observed_at", "plan", "monthly_charges", "total_charges")
    inputs = [c for c in frame.columns if c not in roles]
    types = infer_feature_types(frame, inputs)
    x = coerce_features(frame, types)[list(types.columns)]
    pre = build_preprocessor(types).fit(x)
    model = lgb.LGBMClassifier(n_estimators=40, num_leaves=8, verbose=-1, n_jobs=1)
    model.fit(pre.transform(x), frame["plan"], categorical_feature=list(range(3)))
    pipeline = Pipeline([("preprocess", pre), ("model", model)])

    explainer = Explainer(pipeline)
    assert explainer.multiclass and np.shape(explainer.expected_value) == (3,)
    importance = explainer.importance(frame)
    assert set(importance) == set(inputs)
    # support tickets depend on the plan (basic plans get more)
    assert list(importance).index("support_tickets_90d") < 3
    rows = frame.head(4)
    top = explainer.explain(rows, top=len(inputs))
    # each row is explained toward the class the model ranks first
    margin = np.asarray(model.predict(explainer.transform(rows), raw_score=True))
    expected = np.asarray(explainer.expected_value)[margin.argmax(axis=1)]
    totals = np.array([sum(r.values()) for r in top])
    np.testing.assert_allclose(totals + expected, margin.max(axis=1), atol=1e-4)


def test_forecast_model_keeps_its_derived_columns() -> None:
    frame = make_demand(1200, n_stores=2, n_products=5, seed=3)
    data = DataConfig(
        source=SourceConfig(path="x.csv"), target="units_sold", timestamp_column="date"
    )
    front = ForecastFeatures(
        series_columns=["store_id", "product_id"], timestamp_column="date",
        target="units_sold", horizon=7, windows=[7],
    ).fit(frame)  # fmt: skip
    parts = split(frame, data=data, config=SplitConfig(), task="regression", seed=0)
    features = [c for c in frame.columns if c != "units_sold"]
    model = train(
        parts, target="units_sold", features=features, task="regression", metric="rmse",
        config=_config("lightgbm"), seed=0, replay=REPLAY["lightgbm"], front=front,
    )  # fmt: skip
    importance = global_importance(model.estimator, parts.test)
    assert {"lag_7", "lag_14", "rolling_mean_7", "dayofweek", "price", "store_id"} <= set(
        importance
    )
    assert "date" not in importance  # the forecast step turns it into calendar columns
    rows = explain_rows(model.estimator, parts.test.head(3), top=len(importance))
    explainer = Explainer(model.estimator)
    prediction = model.estimator.predict(parts.test.head(3))
    totals = np.array([sum(r.values()) for r in rows]) + explainer.expected_value
    np.testing.assert_allclose(totals, prediction, atol=1e-4)


def test_importance_figure_has_one_bar_per_feature_shown() -> None:
    importance = {f"f{i}": float(i) for i in range(20)}
    figure = importance_figure(importance, top=7)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    assert len(ax.patches) == 7
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels[-1] == "f19" and labels[0] == "f13"  # largest at the top
    assert len(importance_figure({"a": 1.0, "b": 0.5}).axes[0].patches) == 2


def test_missing_optional_libraries_are_config_errors(
    churn: Churn, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts, _, models = churn
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap now fails
    monkeypatch.setitem(sys.modules, "fairlearn.metrics", None)
    with pytest.raises(ConfigError, match=r"pip install 'headway\[explain\]'"):
        global_importance(models["linear"].estimator, parts.test)
    with pytest.raises(ConfigError, match=r"pip install 'fairlearn"):
        fairness_report("binary", GROUPS, Y, P, column="region")
