"""Model cards: sections in order, tables, the SVG chart, escaping, derived limitations."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from headway.artifacts import Blessing, EvaluationReport, to_dict
from headway.reports import render_model_card

SCRIPT = "<script>alert(1)</script>"
SECTIONS = [
    "Summary",
    "Intended use",
    "Data",
    "Training",
    "Evaluation",
    "Slices",
    "Fairness",
    "Top features",
    "Behavioural checks",
    "Gates",
    "Approvals and decisions",
    "Limitations",
    "Lineage",
]
IMPORTANCE = {
    "debt_to_income": 0.412,
    "credit_history_months": 0.305,
    "annual_income": 0.221,
    "loan_amount": 0.198,
    "n_late_payments": 0.154,
    "employment": 0.121,
    "age": 0.088,
    "purpose": 0.061,
    "home_ownership": 0.043,
    "n_open_accounts": 0.027,
    "region": 0.012,
    "n_dependants": 0.004,
}

CHECKS = [
    {
        "name": "min:roc_auc",
        "passed": True,
        "value": 0.843217,
        "bound": 0.75,
        "detail": "roc_auc=0.8432 >= 0.75",
    },
    {
        "name": "champion",
        "passed": True,
        "value": 0.0121,
        "bound": 0.0,
        "detail": "roc_auc 0.8432 vs champion v2 0.8311: change +0.0121 "
        "(95% interval +0.0043 to +0.0198), improves beyond noise",
    },
    {
        "name": "fairness:sex:demographic_parity_difference",
        "passed": True,
        "value": 0.0412,
        "bound": 0.1,
        "detail": "fairness:sex:demographic_parity_difference=0.0412 <= 0.1",
    },
]


def credit_card() -> dict[str, Any]:
    """A blessed and approved binary credit-default model that beat its champion."""
    return {
        "name": "credit_default",
        "version": "3",
        "created_at": "2025-03-14T09:21:05+00:00",
        "task": "binary",
        "target": "defaulted",
        "description": (
            "Scores consumer loan applications for the probability of default within 12 "
            "months. Used by underwriters as one input; not for automated rejection."
        ),
        "aliases": ["champion"],
        "tags": {"team": "credit-risk", "owner": "r.ahmed"},
        "status": {
            "blessed": True,
            "approval": "approved",
            "approval_by": "m.chen",
            "approval_reason": "reviewed slices and fairness",
            "approval_at": "2025-03-15T11:02:00+00:00",
            "archived": False,
        },
        "data": {
            "dataset_hash": "9f2c4e1ab37d5c08e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
            "n_rows": 24000,
            "columns": ["application_id", "applied_at", *IMPORTANCE, "sex", "defaulted"],
            "source_uri": "s3://risk-data/credit/applications.parquet",
            "schema_hash": "b7e1c2d3a4f5061728394a5b6c7d8e9f",
            "period": ["2022-01-01", "2024-12-31"],
            "split": {"strategy": "time", "train": 14400, "valid": 4800, "test": 4800},
        },
        "training": {
            "family": "lightgbm",
            "params": {"learning_rate": 0.0523, "num_leaves": 31, "n_estimators": 640},
            "metric": "roc_auc",
            "valid_score": 0.84712,
            "n_trials": 40,
            "n_failed": 1,
            "n_pruned": 6,
            "budget": {"trials": 40, "timeout_seconds": 600},
            "leaderboard": {"linear": 0.8012, "lightgbm": 0.84712, "xgboost": 0.8433},
            "executor": "local",
            "n_workers": 4,
            "threshold": 0.1125,
            "calibration": "isotonic",
            "search_params": {"family": "lightgbm", "lightgbm.learning_rate": 0.0523},
        },
        "evaluation": {
            "metric": "roc_auc",
            "higher_is_better": True,
            "metrics": {
                "roc_auc": 0.843217,
                "average_precision": 0.51234,
                "log_loss": 0.30121,
                "brier": 0.09012,
            },
            "intervals": {
                "roc_auc": [0.83012, 0.85598],
                "average_precision": [0.4811, 0.5436],
                "log_loss": [0.2915, 0.3109],
                "brier": [0.0871, 0.0932],
            },
            "n_test": 4800,
            "calibration_error": 0.0213,
            "slices": [
                {
                    "column": "employment",
                    "value": "salaried",
                    "n": 3100,
                    "metrics": {"roc_auc": 0.851},
                    "flagged": False,
                    "reason": None,
                },
                {
                    "column": "employment",
                    "value": "retired",
                    "n": 410,
                    "metrics": {"roc_auc": 0.7512},
                    "flagged": True,
                    "reason": "roc_auc 0.75 vs 0.84 overall (-10.9%)",
                },
                {
                    "column": "purpose",
                    "value": "car|van",
                    "n": 920,
                    "metrics": {"roc_auc": 0.846},
                    "flagged": False,
                    "reason": None,
                },
                {
                    "column": "purpose",
                    "value": "other",
                    "n": 12,
                    "metrics": {},
                    "flagged": False,
                    "reason": "too few rows",
                },
            ],
            "business_value": {
                "per_1000": 41250.0,
                "total": 198000.0,
                "n": 4800,
                "counts": {
                    "true_positive": 510,
                    "false_positive": 930,
                    "true_negative": 3150,
                    "false_negative": 210,
                },
                "values": {
                    "true_positive": 0.0,
                    "false_positive": 0.0,
                    "true_negative": 100.0,
                    "false_negative": -557.14,
                },
            },
            "fairness": [
                {
                    "column": "sex",
                    "demographic_parity_difference": 0.0412,
                    "equalized_odds_difference": 0.0633,
                    "by_group": {
                        "female": {"n": 2300, "selection_rate": 0.281, "roc_auc": 0.8471},
                        "male": {"n": 2500, "selection_rate": 0.3222, "roc_auc": 0.8398},
                    },
                }
            ],
            "importance": IMPORTANCE,
            "notes": [],
            "behaviour": [
                {"name": "monotone in debt_to_income", "passed": True, "detail": "500 rows"},
                {"name": "invariant to sex", "passed": True, "detail": "max change 0.004"},
            ],
            "latency_p95_ms": 3.2,
            "size_mb": 1.8,
        },
        "gates": {
            "blessed": True,
            "reasons": [*(c["detail"] for c in CHECKS), "reviewed against policy CR-7"],
            "metric": "roc_auc",
            "candidate_value": 0.843217,
            "champion_version": "2",
            "champion_value": 0.83112,
            "checks": CHECKS,
            "change": [0.0121, 0.0043, 0.0198],
        },
        "approvals": [
            {
                "at": "2025-03-14T09:21:07+00:00",
                "action": "registered",
                "actor": "ci-bot",
                "reason": "headway run",
                "version": "3",
            },
            {
                "at": "2025-03-14T09:21:08+00:00",
                "action": "blessed",
                "actor": "ci-bot",
                "reason": "beats champion v2",
                "version": "3",
            },
            {
                "at": "2025-03-15T11:02:00+00:00",
                "action": "approved",
                "actor": "m.chen",
                "reason": "reviewed slices and fairness",
                "version": "3",
            },
        ],
        "limitations": ["Not validated for small-business loans."],
        "lineage": {
            "run_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
            "dataset_hash": "9f2c4e1ab37d5c08e6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70",
            "schema_hash": "b7e1c2d3a4f5061728394a5b6c7d8e9f",
            "config_hash": "4c5d6e7f8091",
            "git_commit": "0f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6",
            "git_dirty": False,
            "packages": '{"lightgbm": "4.6.0", "scikit-learn": "1.7.2", "headway": "0.1.0"}',
            "model_uri": "models:/credit_default/3",
        },
    }


def regression_card() -> dict[str, Any]:
    """A demand regression: residual metrics, no classes, threshold or fairness."""
    return {
        "name": "demand",
        "version": 7,
        "task": "regression",
        "target": "units",
        "status": {"blessed": False, "approval": None, "archived": False},
        "training": {"family": "linear", "metric": "rmse", "valid_score": 12.4, "n_trials": 5},
        "evaluation": {
            "metric": "rmse",
            "higher_is_better": False,
            "metrics": {"rmse": 12.3456789, "mae": 8.1, "r2": 0.71234, "wape": 0.18},
            "intervals": {"rmse": [11.9, 12.8], "mae": [7.8, 8.4]},
            "n_test": 25000,
            "calibration_error": None,
            "slices": [],
            "business_value": None,
            "fairness": [],
            "importance": {"price": 3.2, "weekday": 1.1},
            "notes": [],
        },
        "gates": {
            "blessed": False,
            "reasons": ["rmse=12.3457 is above the maximum 10.0", "no current champion"],
            "metric": "rmse",
            "candidate_value": 12.3456789,
        },
    }


def sections(text: str, marker: str) -> list[str]:
    return re.findall(rf"^{re.escape(marker)} (.+)$", text, flags=re.MULTILINE)


def section(markdown: str, heading: str) -> str:
    """The Markdown of one ``## heading`` section, up to the next one."""
    start = markdown.index(f"\n## {heading}\n")
    end = markdown.find("\n## ", start + 1)
    return markdown[start : end if end >= 0 else None]


@pytest.fixture(scope="module")
def credit() -> tuple[str, str]:
    return render_model_card(credit_card())


def test_markdown_has_every_section_in_order(credit: tuple[str, str]) -> None:
    markdown, _ = credit
    assert markdown.startswith("# Model card: credit_default v3\n")
    assert sections(markdown, "##") == SECTIONS
    assert "**blessed** · **approval approved** · **@champion**" in markdown
    summary = section(markdown, "Summary")
    assert "binary classification" in summary and "defaulted" in summary
    assert "roc_auc 0.8432 (95% interval 0.8301 to 0.8560; on 4,800 test rows" in summary
    assert "approved by m.chen" in summary
    assert "champion v2: 0.8311" in summary
    assert "41,250 per 1,000 predictions" in summary
    assert "not for automated rejection" in section(markdown, "Intended use")


def test_data_training_and_metric_table(credit: tuple[str, str]) -> None:
    markdown, _ = credit
    data = section(markdown, "Data")
    assert "24,000" in data and "9f2c4e1ab37d" in data and "2022-01-01 to 2024-12-31" in data
    assert "| train | 14,400 | 60% |" in data
    training = section(markdown, "Training")
    assert "40 trials (1 failed, 6 pruned)" in training
    assert "| learning_rate | 0.0523 |" in training
    # the leaderboard best first, the chosen family marked
    assert training.index("| lightgbm | 0.8471 | chosen |") < training.index("| linear |")
    evaluation = section(markdown, "Evaluation")
    assert "| metric | value | 95% interval |" in evaluation
    assert "| roc_auc (primary) | 0.8432 | 0.8301 to 0.8560 |" in evaluation
    assert "| brier | 0.0901 | 0.0871 to 0.0932 |" in evaluation
    assert evaluation.index("roc_auc (primary)") < evaluation.index("| average_precision")
    assert "0.0213 (at most 0.05: well calibrated)" in evaluation
    assert "| false negative | 210 | -557.14 | -116,999.40 |" in evaluation
    assert "3.2 ms" in evaluation and "1.8 MB" in evaluation


def test_flagged_slice_first_and_a_limitation(credit: tuple[str, str]) -> None:
    markdown, page = credit
    slices = section(markdown, "Slices")
    rows = [line for line in slices.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[1].startswith("| flagged | employment | retired | 410 | 0.7512 |")  # after header
    assert slices.index("retired") < slices.index("salaried")
    assert "1 flagged" in slices
    limitations = section(markdown, "Limitations")
    assert "Performs worse on employment=retired: roc_auc 0.75 vs 0.84 overall" in limitations
    assert "Not validated for small-business loans." in limitations
    # the stated limitation first; the time split's period end is derived
    assert limitations.index("small-business") < limitations.index("employment=retired")
    assert "not seen data after 2024-12-31" in limitations
    assert '<tr class="bad"><td>flagged</td><td>employment</td><td>retired</td>' in page


def test_fairness_features_gates_and_approvals(credit: tuple[str, str]) -> None:
    markdown, _ = credit
    fairness = section(markdown, "Fairness")
    assert "### Sensitive column: sex" in fairness
    assert "Demographic parity difference:** 0.0412" in fairness
    assert "Equalized odds difference:** 0.0633" in fairness
    assert "| group | n | selection_rate | roc_auc |" in fairness
    assert "| female | 2,300 | 0.2810 | 0.8471 |" in fairness
    assert "(above 0.1)" not in fairness  # both differences are small

    features = section(markdown, "Top features")
    assert "mean \\|SHAP\\|" in features
    listed = re.findall(r"^\| (\d+) \| (\w+) \|", features, flags=re.MULTILINE)
    assert listed == [(str(i), name) for i, name in enumerate(list(IMPORTANCE)[:10], 1)]
    assert "Showing 10 of 12 features" in features
    assert "region" not in features

    assert "✓ pass | invariant to sex" in section(markdown, "Behavioural checks")
    gates = section(markdown, "Gates")
    assert "Blessed." in gates and "v2: 0.8311" in gates
    assert "Change against the champion:** +0.0121 (95% interval +0.0043 to +0.0198)" in gates
    assert "| ✓ pass | min:roc_auc | 0.8432 | 0.7500 | roc_auc=0.8432 >= 0.75 |" in gates
    assert "| ✓ pass | champion | 0.0121 | 0.0000 | roc_auc 0.8432 vs champion v2" in gates
    # the reasons that repeat a check's detail are not listed twice
    assert gates.count("roc_auc=0.8432 >= 0.75") == 1
    assert "- ✓ pass: reviewed against policy CR-7" in gates

    approvals = section(markdown, "Approvals and decisions")
    actions = re.findall(r"^\| 2025\S+ \| (\w+) \| ([\w.-]+) \|", approvals, flags=re.MULTILINE)
    assert actions == [("registered", "ci-bot"), ("blessed", "ci-bot"), ("approved", "m.chen")]

    lineage = section(markdown, "Lineage")
    assert "| lightgbm | 4.6.0 |" in lineage and "models:/credit_default/3" in lineage
    assert "uncommitted" not in lineage


def test_html_is_a_complete_page_with_an_svg_chart(credit: tuple[str, str]) -> None:
    _, page = credit
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<title>Model card: credit_default v3</title>" in page
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert headings == SECTIONS
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.DOTALL)
    assert len(svgs) == 1
    assert svgs[0].count('<rect class="bar"') == 10
    widths = [float(w) for w in re.findall(r'class="bar"[^>]*width="([\d.]+)"', svgs[0])]
    assert widths == sorted(widths, reverse=True) and widths[0] == 340
    assert "debt_to_income" in svgs[0] and "n_dependants" not in svgs[0]
    # self-contained: no scripts, no external files
    assert "<script" not in page and "src=" not in page and "<link" not in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert '<span class="badge ok">blessed</span>' in page


def test_text_is_escaped_in_html_and_markdown() -> None:
    card = credit_card()
    card["description"] = f"Scores loans. {SCRIPT}"
    card["evaluation"]["slices"][1]["value"] = SCRIPT
    markdown, page = render_model_card(card)
    assert "<script" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # intended use, slice, limit
    # Markdown: a | inside a category value cannot split the table row
    assert "| purpose | car\\|van | 920 |" in markdown
    assert "\\<script>" in markdown and "<script" not in markdown.replace("\\<script", "")


def test_markdown_tables_parse_with_a_gfm_renderer(credit: tuple[str, str]) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    markdown, _ = credit
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    assert "<td>car|van</td>" in rendered
    for table in re.findall(r"<table>.*?</table>", rendered, flags=re.DOTALL):
        widths = {
            len(re.findall(r"<t[hd][ >]", row)) for row in re.findall(r"<tr>.*?</tr>", table, re.S)
        }
        assert len(widths) == 1, table


@pytest.mark.parametrize(
    "card", [{"name": "m", "version": "1"}, {}, {"name": "m", "evaluation": None, "data": 3}]
)
def test_an_almost_empty_card_says_not_recorded(card: dict[str, Any]) -> None:
    markdown, page = render_model_card(card)
    assert sections(markdown, "##") == SECTIONS
    assert re.findall(r"<h2>(.*?)</h2>", page) == SECTIONS
    for heading in ("Intended use", "Data", "Training", "Slices", "Top features", "Lineage"):
        assert "not recorded" in section(markdown, heading).lower(), heading
    assert "No evaluation is recorded" in section(markdown, "Limitations")
    assert "<svg" not in page


def test_wrong_types_do_not_raise() -> None:
    card = credit_card()
    card["evaluation"]["metrics"]["roc_auc"] = "n/a"
    card["evaluation"]["intervals"] = {"roc_auc": [None, 1]}
    card["evaluation"]["slices"].append("not a slice")
    card["evaluation"]["importance"] = {"a": "0.5", "b": None, "c": float("nan")}
    card["training"]["n_trials"] = "40"
    card["data"]["split"] = None
    card["lineage"]["packages"] = "not json"
    card["approvals"] = [None, {"action": "approved"}]
    markdown, page = render_model_card(card)
    assert "| roc_auc (primary) | n/a | — |" in markdown
    assert page.count('<rect class="bar"') == 2  # a and the nan (no bar width)
    assert "not json" in section(markdown, "Lineage")


def test_a_regression_card_renders() -> None:
    markdown, page = render_model_card(regression_card())
    assert sections(markdown, "##") == SECTIONS
    assert markdown.startswith("# Model card: demand v7\n")
    assert "**not blessed** · **approval not requested**" in markdown
    assert "rmse 12.3457 (95% interval 11.9000 to 12.8000" in markdown
    assert "lower is better" in markdown
    evaluation = section(markdown, "Evaluation")
    assert "| r2 | 0.7123 | — |" in evaluation and "Calibration" not in evaluation
    assert "Not recorded." in section(markdown, "Fairness")
    gates = section(markdown, "Gates")
    assert "- ✗ fail: rmse=12.3457 is above the maximum 10.0" in gates
    assert "- note: no current champion" in gates
    assert "not blessed: rmse=12.3457 is above the maximum 10.0" in section(markdown, "Summary")
    assert page.count('<rect class="bar"') == 2


def _limitations(card: dict[str, Any]) -> str:
    return section(render_model_card(card)[0], "Limitations")


def test_limitations_are_derived_from_the_evaluation() -> None:
    base = credit_card()
    base["data"]["split"]["strategy"] = "random_stratified"
    base["evaluation"]["slices"] = []
    base["limitations"] = []
    assert "Not recorded" in _limitations(base)

    miscalibrated = copy.deepcopy(base)
    miscalibrated["evaluation"]["calibration_error"] = 0.08
    assert "expected calibration error 0.0800 (above 0.05)" in _limitations(miscalibrated)

    unfair = copy.deepcopy(base)
    unfair["evaluation"]["fairness"][0]["demographic_parity_difference"] = 0.3
    text = _limitations(unfair)
    assert "Selection rates differ across sex groups: demographic parity difference 0.3000" in text
    assert "equalized odds" not in text

    small = copy.deepcopy(base)
    small["evaluation"]["n_test"] = 640
    assert "only 640 test rows (fewer than 1,000)" in _limitations(small)

    noted = copy.deepcopy(base)
    noted["evaluation"]["notes"] = ["SHAP importance skipped: pip install 'headway[explain]'"]
    noted["evaluation"]["importance"] = {}
    markdown, _ = render_model_card(noted)
    assert "SHAP importance skipped" in section(markdown, "Limitations")
    assert "Not recorded. SHAP importance skipped" in section(markdown, "Top features")


def test_a_failed_check_is_the_summary_reason() -> None:
    card = credit_card()
    card["status"]["blessed"] = False
    card["gates"]["blessed"] = False
    card["gates"]["checks"] = [
        *CHECKS[:2],
        {
            "name": "latency_p95_ms",
            "passed": False,
            "value": 31.0,
            "bound": 20.0,
            "detail": "latency_p95_ms=31.00 ms over the budget of 20 ms",
        },
    ]
    markdown, page = render_model_card(card)
    assert "not blessed: latency_p95_ms=31.00 ms over the budget of 20 ms" in markdown
    assert '<tr class="bad"><td>✗ fail</td><td>latency_p95_ms</td>' in page


def test_a_pending_card_and_a_dirty_tree() -> None:
    card = credit_card()
    card["status"] = {"blessed": True, "approval": "pending", "archived": True}
    card["approvals"] = card["approvals"][:2]
    card["lineage"]["git_dirty"] = "true"
    markdown, page = render_model_card(card)
    assert "**approval pending**" in markdown and "**archived**" in markdown
    assert '<span class="badge warn">approval pending</span>' in page
    assert "approved" not in section(markdown, "Approvals and decisions")
    assert "uncommitted changes" in section(markdown, "Lineage")


def test_rendering_is_deterministic() -> None:
    assert render_model_card(credit_card()) == render_model_card(credit_card())


def test_artifact_dicts_render() -> None:
    card = credit_card()
    report = EvaluationReport(
        metric="roc_auc",
        higher_is_better=True,
        metrics={"roc_auc": 0.8, "accuracy": 0.9},
        intervals={"roc_auc": (0.75, 0.85), "accuracy": (0.88, 0.92)},
        n_test=2500,
        calibration_error=0.01,
        slices=tuple(card["evaluation"]["slices"]),
        importance={"x": 0.2, "y": 0.1},
        notes=("a note",),
    )
    blessing = Blessing(True, ("no current champion",), "roc_auc", 0.8)
    markdown, _ = render_model_card(
        {**card, "evaluation": to_dict(report), "gates": to_dict(blessing)}
    )
    assert "| roc_auc (primary) | 0.8000 | 0.7500 to 0.8500 |" in markdown
    assert "- note: no current champion" in section(markdown, "Gates")
    assert "a note" in section(markdown, "Limitations")
