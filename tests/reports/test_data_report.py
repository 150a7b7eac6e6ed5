from __future__ import annotations

import base64
import re

import numpy as np
import pandas as pd
import pytest

from headway.artifacts import CheckResult, DatasetVersion, ValidationReport
from headway.data.schema import ColumnSchema, DataSchema
from headway.datasets import make_churn
from headway.reports import render_validation_html

SCRIPT = "<script>alert(1)</script>"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHURN_SCHEMA = DataSchema(
    columns={
        "customer_id": ColumnSchema(dtype="string", role="id", nullable=False),
        "observed_at": ColumnSchema(dtype="datetime", role="timestamp", nullable=False),
        "region": ColumnSchema(dtype="string"),
        "plan": ColumnSchema(dtype="string", categories=["basic", "premium", "standard"]),
        "monthly_charges": ColumnSchema(dtype="float", min=0.0, max=200.0),
        "age": ColumnSchema(dtype="float", min=18.0, max=100.0),
        "tenure_months": ColumnSchema(dtype="int", min=0.0),
        "churned": ColumnSchema(dtype="int", role="target", nullable=False),
    }
)
REPORT = ValidationReport(
    "ab" * 32,
    (
        CheckResult("min_rows", True, "2000 rows, at least 50"),
        CheckResult("ranges", False, "age above 100", "age", "warn", 2, ("120", "130"), (4, 9)),
        CheckResult("nulls", True, "no missing values", "churned"),
        CheckResult("types", False, "plan: <b>not a string</b>", "plan", "error", 1, ("7",), (3,)),
    ),
)


def cards(page: str) -> dict[str, str]:
    """The HTML of each column card, by the column name in its heading."""
    found = re.findall(
        r'<div class="card"><h3>(.*?)</h3>(.*?)</div>(?=<div class="card">|</div>)', page
    )
    return dict(found)


def images(card: str) -> list[bytes]:
    return [base64.b64decode(b) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', card)]


@pytest.fixture(scope="module")
def churn() -> pd.DataFrame:
    frame = make_churn(2000, seed=0)
    frame.loc[:799, "region"] = SCRIPT  # the most frequent value: listed in the card
    frame["is_new"] = frame["tenure_months"] < 12
    frame["notes"] = None  # all missing
    return frame


@pytest.fixture(scope="module")
def page(churn: pd.DataFrame) -> str:
    version = DatasetVersion(
        content_hash="0123456789abcdef" * 4,
        source_uri="data/churn.csv",
        format="csv",
        n_rows=len(churn),
        columns=tuple(churn.columns),
        dtypes={c: str(t) for c, t in churn.dtypes.items()},
        schema_hash=CHURN_SCHEMA.fingerprint(),
        created_at="2026-01-02T03:04:05+00:00",
    )
    return render_validation_html(
        REPORT, churn, CHURN_SCHEMA, title="churn <data>", version=version
    )


def test_header_shows_verdict_and_version(page: str) -> None:
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<title>churn &lt;data&gt;</title>" in page
    assert "failed: 1 error, 1 warning" in page
    assert "dataset 0123456789ab" in page and "2,000 rows" in page and "17 columns" in page
    assert "created 2026-01-02T03:04:05+00:00" in page


def test_one_card_per_column_with_a_png_per_plotted_column(page: str, churn: pd.DataFrame) -> None:
    by_name = cards(page)
    assert list(by_name) == list(churn.columns)
    for name, card in by_name.items():
        pngs = images(card)
        if name in ("notes", "customer_id"):  # all missing; all distinct: nothing to plot
            assert pngs == []
        else:
            assert len(pngs) == 1 and pngs[0].startswith(PNG_SIGNATURE), name


def test_cards_show_schema_role_and_summaries(page: str) -> None:
    by_name = cards(page)
    assert "datetime · timestamp" in by_name["observed_at"]
    assert "string · id" in by_name["customer_id"]
    for name in ("is_new", "notes", "contract"):
        assert "not in schema" in by_name[name]
    assert "not in schema" not in by_name["region"]
    assert "<td>missing</td><td>165 (8.2%)</td>" in by_name["age"]
    assert "<td>missing</td><td>2,000 (100.0%)</td>" in by_name["notes"]
    assert "<td>distinct</td><td>2,000</td>" in by_name["customer_id"]
    for stat in ("min", "mean", "median", "max"):
        assert f"<td>{stat}</td>" in by_name["monthly_charges"]
    assert "<td>min</td><td>2024-01-01" in by_name["observed_at"]
    assert "<td>top: True</td>" in by_name["is_new"] or "<td>top: False</td>" in by_name["is_new"]
    assert "<td>top: &lt;script&gt;" in by_name["region"]


def test_markup_in_data_and_messages_is_escaped(page: str) -> None:
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert "plan: &lt;b&gt;not a string&lt;/b&gt;" in page


def test_checks_list_errors_then_warnings_then_passes(page: str) -> None:
    rows = re.findall(r'<tr class="(error|warn|pass)"><td>\w+</td><td>\w+</td><td>(\w+)</td>', page)
    assert rows == [
        ("error", "types"),
        ("warn", "ranges"),
        ("pass", "min_rows"),
        ("pass", "nulls"),
    ]
    assert "row 4: 120<br>row 9: 130" in page


def test_page_is_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and "<script" not in page
    assert "<style>" in page


def test_small_frame_with_null_bool_and_utc_datetime_columns() -> None:
    frame = pd.DataFrame(
        {
            "empty": [None, None, None, None],
            "flag": [True, False, True, True],
            "at": pd.to_datetime(["2025-01-05", "2025-03-01", None, "2025-03-09"], utc=True),
            "x": [1.0, np.inf, 2.0, np.nan],
            "price": ["$5", "$x$", "$x$", "$\\frac{$"],  # not typeset as mathtext
        }
    )
    schema = DataSchema(
        columns={
            "empty": ColumnSchema(dtype="float"),
            "flag": ColumnSchema(dtype="bool"),
            "at": ColumnSchema(dtype="datetime", role="timestamp"),
            "gone": ColumnSchema(dtype="int"),
        }
    )
    report = ValidationReport("", (CheckResult("ranges", False, "x", "x", "warn", 1),))
    page = render_validation_html(report, frame, schema, title="small")
    by_name = cards(page)
    assert "passed: 0 errors, 1 warning" in page
    assert [len(images(by_name[c])) for c in frame.columns] == [0, 1, 1, 1, 1]
    assert "<td>missing</td><td>4 (100.0%)</td>" in by_name["empty"]
    assert "<td>min</td><td>2025-01-05 00:00:00+00:00</td>" in by_name["at"]
    assert "<td>infinite</td><td>1</td>" in by_name["x"]
    assert "<td>top: True</td><td>3</td>" in by_name["flag"]
    assert "not in the table: gone" in page


def test_large_frame_plots_from_a_seeded_sample() -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"v": rng.normal(size=120_000), "k": rng.choice(["a", "b", "c"], 120_000)})
    schema = DataSchema(columns={"v": ColumnSchema(dtype="float")})
    report = ValidationReport("h" * 64, ())
    first = render_validation_html(report, frame, schema, title="big")
    assert first == render_validation_html(report, frame, schema, title="big")
    assert "passed: 0 errors, 0 warnings" in first and "No checks were run." in first
    assert "<td>missing</td><td>0 (0.0%)</td>" in cards(first)["v"]
    assert "<td>distinct</td><td>120,000</td>" in cards(first)["v"]  # summaries: every row


def test_repeated_and_non_string_column_names() -> None:
    frame = pd.DataFrame([[1, 2, "a"], [3, 4, "a"]], columns=["a", "a", 0])
    page = render_validation_html(
        ValidationReport("", ()), frame, DataSchema(columns={}), title="t"
    )
    assert re.findall(r"<h3>(.*?)</h3>", page) == ["a", "a", "0"]
    assert page.count("data:image/png;base64,") == 3
