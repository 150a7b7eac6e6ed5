"""The fast request checks decline or agree: for any request, either they give exactly the
features the full checks give (and the full checks have nothing to say), or they give
nothing and the full path answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headway import PipelineResult, Project
from headway.exceptions import InvalidRequestError
from headway.serving.checks import check_request
from headway.serving.fastcheck import compile_checks
from headway.serving.model import ServedModel
from tests.serving.test_request_properties import ANY_VALUE, NASTY

Trained = tuple[Project, PipelineResult]


@pytest.fixture(scope="module")
def table(trained: Trained) -> pd.DataFrame:
    project, _ = trained
    assert project.data_path is not None
    return pd.read_csv(project.data_path).head(300).drop(columns=["churned"])


def _plain(value: Any) -> Any:
    return None if pd.isna(value) else getattr(value, "item", lambda: value)()


def _columns(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {c: [_plain(v) for v in frame[c]] for c in frame.columns}


def _full(columns: dict[str, list[Any]], served: ServedModel) -> tuple[pd.DataFrame | None, int]:
    """The features and the number of warnings of the full checks (None: an error)."""
    try:
        features, warnings = check_request(pd.DataFrame(columns), served.types, served.schema)
    except InvalidRequestError:
        return None, -1
    return features, len(warnings)


def _agrees(clean: dict[str, np.ndarray] | None, full: pd.DataFrame | None, n_warn: int) -> bool:
    if clean is None:
        return True  # declined: the full path answers
    if full is None or n_warn != 0 or list(clean) != list(full.columns):
        return False
    for name, values in clean.items():
        expected = full[name].to_numpy()
        if values.dtype == np.float64:
            if not np.array_equal(values, expected.astype(np.float64), equal_nan=True):
                return False
        elif [None if pd.isna(v) else v for v in values] != [
            None if pd.isna(v) else v for v in expected
        ]:
            return False
    return True


def test_clean_rows_of_the_training_table_take_the_fast_path(
    served: ServedModel, table: pd.DataFrame
) -> None:
    checker = compile_checks(served.types, served.schema)
    columns = _columns(table[list(served.types.columns)])
    full, n_warn = _full(columns, served)
    # Rows of the training table: nothing for the full path to say.
    assert full is not None
    assert n_warn == 0
    clean = checker.clean(columns, len(table))
    assert clean is not None
    assert _agrees(clean, full, n_warn)
    assert list(clean) == [*served.types.categorical, *served.types.numeric]


def test_a_missing_column_or_a_text_number_is_declined(
    served: ServedModel, table: pd.DataFrame
) -> None:
    checker = compile_checks(served.types, served.schema)
    columns = _columns(table.head(3)[list(served.types.columns)])
    number = served.types.numeric[0]
    without = {c: v for c, v in columns.items() if c != number}
    assert checker.clean(without, 3) is None
    texted = {**columns, number: ["12", *columns[number][1:]]}
    assert checker.clean(texted, 3) is None


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_fast_checks_decline_or_agree(
    served: ServedModel, table: pd.DataFrame, data: st.DataObject
) -> None:
    n = data.draw(st.integers(min_value=1, max_value=4))
    start = data.draw(st.integers(min_value=0, max_value=len(table) - n))
    columns = _columns(table.iloc[start : start + n][list(served.types.columns)])
    for name in data.draw(st.lists(st.sampled_from(list(columns)), max_size=3)):
        row = data.draw(st.integers(min_value=0, max_value=n - 1))
        value = data.draw(
            st.one_of(
                NASTY,
                ANY_VALUE,
                st.floats(min_value=-1e6, max_value=1e6),
                st.integers(min_value=-1000, max_value=1000),
                st.sampled_from(sorted({str(v) for v in table[name].dropna()})[:20]),
            )
        )
        columns[name][row] = value
    clean = compile_checks(served.types, served.schema).clean(columns, n)
    full, n_warn = _full(columns, served)
    assert _agrees(clean, full, n_warn)
