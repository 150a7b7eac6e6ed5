from __future__ import annotations

import pandas as pd

from headway.artifacts import CheckResult, ValidationReport
from headway.data import infer_schema
from headway.data.report import render_validation_html
from headway.datasets import make_churn
from headway.project import DataConfig, SourceConfig

DATA = DataConfig(
    source=SourceConfig(path="x.csv"),
    target="churned",
    id_column="customer_id",
    timestamp_column="observed_at",
)


def test_page_has_verdict_checks_and_a_plot_per_column() -> None:
    frame = make_churn(2000, seed=0)
    frame["flag"] = frame["churned"] == 1
    frame["empty"] = float("nan")
    frame.loc[:999, "region"] = "<script>alert(1)</script>"  # a top value: shown in the card
    schema = infer_schema(frame.drop(columns=["flag"]), DATA)
    report = ValidationReport(
        "h" * 64,
        (
            CheckResult("min_rows", True, "2000 rows"),
            CheckResult(
                "ranges", False, "column 'age' out of range", "age", "warn", 2, ("99",), (5,)
            ),
            CheckResult(
                "types", False, "column 'plan' <b>bad</b>", "plan", "error", 1, ("x",), (7,)
            ),
        ),
    )
    page = render_validation_html(report, frame, schema, title="churn: data")
    assert page.startswith("<!doctype html>") and "failed: 1 error(s)" in page
    for column in frame.columns:
        assert f"<h3>{column}</h3>" in page
    # a plot for every column with values; none for the all-missing one
    assert page.count("data:image/png;base64,") == frame.shape[1] - 1
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page
    assert (
        page.index("column &#x27;plan&#x27;")
        < page.index("column &#x27;age&#x27;")
        < page.index("2000 rows")
    )
    assert "not in schema" in page  # the 'flag' column
    assert "row 5: 99" in page


def test_passed_report() -> None:
    frame = pd.DataFrame({"churned": [0, 1, 0], "x": [1.0, 2.0, 3.0]})
    schema = infer_schema(
        frame, DATA.model_copy(update={"id_column": None, "timestamp_column": None})
    )
    page = render_validation_html(ValidationReport("h" * 64, ()), frame, schema, title="t")
    assert '<span class="verdict ok">passed</span>' in page
