"""``headway init --data`` and the notebook entry points, end to end.

The real tables are files that scikit-learn ships inside its package
(``sklearn/datasets/data/``). Their files are not plain CSV tables (a first line of counts and
class names, or no header at all), so each test writes them as one in ``tmp_path`` first.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import yaml

import headway
from headway.config import load_config
from headway.datasets import make_churn, make_credit, make_demand
from headway.exceptions import ConfigError, DataError
from tests.helpers import run_cli

SKLEARN_DATA = Path(sklearn.__file__).parent / "datasets" / "data"


def _shipped(file: str) -> tuple[pd.DataFrame, list[str]]:
    """A shipped ``n_rows,n_features,class names...`` file: its rows, and its class names."""
    header = (SKLEARN_DATA / file).read_text().splitlines()[0].split(",")
    return pd.read_csv(SKLEARN_DATA / file, skiprows=1, header=None), header[2:]


def breast_cancer(tmp_path: Path) -> Path:
    from sklearn.datasets import load_breast_cancer

    frame, _ = _shipped("breast_cancer.csv")
    frame.columns = [*load_breast_cancer().feature_names, "malignant"]
    frame["malignant"] = 1 - frame["malignant"]  # the file codes 0 = malignant
    path = tmp_path / "breast_cancer.csv"
    frame.to_csv(path, index=False)
    return path


def wine(tmp_path: Path) -> Path:
    from sklearn.datasets import load_wine

    frame, classes = _shipped("wine_data.csv")
    frame.columns = [*load_wine().feature_names, "cultivar"]
    frame["cultivar"] = frame["cultivar"].map(dict(enumerate(classes)))
    path = tmp_path / "wine.parquet"
    frame.to_parquet(path, index=False)
    return path


def iris(tmp_path: Path) -> Path:
    frame, _ = _shipped("iris.csv")
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "species"]
    path = tmp_path / "iris.csv"
    frame.to_csv(path, index=False)
    return path


def diabetes(tmp_path: Path) -> Path:
    from sklearn.datasets import load_diabetes

    frame = pd.read_csv(SKLEARN_DATA / "diabetes_data_raw.csv.gz", sep=" ", header=None)
    frame.columns = load_diabetes().feature_names
    frame["progression"] = np.loadtxt(SKLEARN_DATA / "diabetes_target.csv.gz")
    path = tmp_path / "diabetes.csv"
    frame.to_csv(path, index=False)
    return path


def assert_blessed_champion(root: Path) -> dict[str, object]:
    out = run_cli("status", "--project", str(root), "--json")
    assert out.returncode == 0, out.stderr
    (model,) = json.loads(out.stdout)["models"]
    (version,) = model["versions"]
    assert version["blessed"] is True
    assert version["aliases"] == ["champion"]
    return dict(version)


def init_and_run(root: Path, *args: str) -> tuple[str, dict[str, object]]:
    """``headway init ROOT ARGS`` then ``headway run``; the init output and the champion."""
    out = run_cli("init", str(root), *args)
    assert out.returncode == 0, out.stderr
    assert "next: headway run --project" in out.stdout
    load_config(root / "headway.yaml")  # valid as written
    assert (root / "schema.yaml").is_file()
    assert ".headway/" in (root / ".gitignore").read_text()
    ran = run_cli("run", "--project", str(root), timeout=600)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    return out.stdout, assert_blessed_champion(root)


def comments(root: Path) -> dict[str, str]:
    """The comment beside each ``key: value`` line of headway.yaml, by key."""
    out = {}
    for line in (root / "headway.yaml").read_text().splitlines():
        body, _, comment = line.partition(" # ")
        key = body.strip().split(":")[0].lstrip("- ").strip()
        if key and not body.strip().startswith("#"):
            out[key] = comment.strip()
    return out


# The "done when" of the issue: real tables and the generators, init then run, no edits.


@pytest.mark.slow
def test_real_table_breast_cancer(tmp_path: Path) -> None:
    data = breast_cancer(tmp_path)
    shown, champion = init_and_run(
        tmp_path / "cancer", "--data", str(data), "--target", "malignant"
    )
    config = load_config(tmp_path / "cancer" / "headway.yaml")
    assert config.task == "binary" and config.name == "cancer"
    assert config.data.source.path == str(data.absolute())  # outside the project: absolute
    assert config.data.id_column is None and config.data.timestamp_column is None
    assert config.data.exclude_columns == []
    assert config.training.budget.trials == 10 and config.seed == 42
    why = comments(tmp_path / "cancer")
    assert why["task"] == "target 'malignant' has two values: 0, 1"
    assert "by a seeded hash of" in why["test_fraction"]
    assert "task" in shown and "binary" in shown and "seeded hash" in shown
    assert float(champion["metrics"]["roc_auc"]) > 0.95  # type: ignore[index]


@pytest.mark.slow
def test_real_table_wine(tmp_path: Path) -> None:
    data = wine(tmp_path)
    init_and_run(tmp_path / "wine", "--data", str(data), "--target", "cultivar")
    config = load_config(tmp_path / "wine" / "headway.yaml")
    assert config.task == "multiclass" and config.data.source.type == "parquet"
    assert comments(tmp_path / "wine")["task"] == (
        "target 'cultivar' holds 3 text values: class_0, class_1, class_2"
    )
    assert config.data.exclude_columns == []


@pytest.mark.slow
def test_real_table_iris_with_integer_classes(tmp_path: Path) -> None:
    data = iris(tmp_path)
    root = tmp_path / "iris"
    asked = run_cli("init", str(root), "--data", str(data), "--target", "species")
    assert asked.returncode == 1
    assert "only 3 distinct values (0, 1, 2)" in asked.stderr
    assert "--task multiclass" in asked.stderr and not root.exists()
    init_and_run(root, "--data", str(data), "--target", "species", "--task", "multiclass")
    assert load_config(root / "headway.yaml").task == "multiclass"


@pytest.mark.slow
def test_real_table_diabetes(tmp_path: Path) -> None:
    data = diabetes(tmp_path)
    root = tmp_path / "diabetes"
    init_and_run(root, "--data", str(data), "--target", "progression")
    config = load_config(root / "headway.yaml")
    assert config.task == "regression" and config.metric == "rmse"
    assert "numeric with 214 distinct values" in comments(root)["task"]


def test_generator_churn_from_the_notebook(tmp_path: Path) -> None:
    frame = make_churn(2000, seed=0)
    root = tmp_path / "churn"
    path = headway.init_project(root, data=frame, target="churned", name="churn")
    assert path == root / "headway.yaml"
    config = load_config(path)
    assert config.data.source.path == "data/churn.parquet"  # inside the project: relative
    assert (root / "data" / "churn.parquet").is_file() and (root / "schema.yaml").is_file()
    assert config.task == "binary"
    assert config.data.id_column == "customer_id"
    assert config.data.timestamp_column == "observed_at"
    why = comments(root)
    assert "named like an id" in why["id_column"]
    assert "the only date/time column: a time-based split" in why["timestamp_column"]
    result = headway.run(root)
    assert isinstance(result, headway.PipelineResult)
    assert result.blessing.blessed and "champion" in result.version.aliases
    assert result.version.name == "churn" and result.evaluation.metrics["roc_auc"] > 0.6
    assert headway.run is headway.pipeline.api.run


@pytest.mark.slow
def test_generator_credit(tmp_path: Path) -> None:
    data = tmp_path / "applications.csv"
    make_credit(3000, seed=0).to_csv(data, index=False)
    root = tmp_path / "credit"
    init_and_run(root, "--data", str(data), "--target", "defaulted")
    config = load_config(root / "headway.yaml")
    assert (config.data.id_column, config.data.timestamp_column) == ("application_id", "applied_at")


@pytest.mark.slow
def test_generator_demand_forecast(tmp_path: Path) -> None:
    root = tmp_path / "demand"
    (root / "data").mkdir(parents=True)
    make_demand(12_000, seed=0).to_csv(root / "data" / "sales.csv", index=False)
    args = ["--data", str(root / "data" / "sales.csv"), "--target", "units_sold"]
    init_and_run(root, *args, "--task", "forecast", "--series", "store_id,product_id")
    config = load_config(root / "headway.yaml")
    assert config.data.source.path == "data/sales.csv"  # inside the project: relative
    assert config.task == "forecast" and config.data.timestamp_column == "date"
    assert config.data.series_columns == ["store_id", "product_id"]
    assert config.forecast.frequency == "D"


# Bad input: a clear error, and nothing written.


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def bad(tmp_path: Path, *args: str) -> str:
    """Run ``headway init`` on bad input in a directory holding one file; the error line."""
    root = tmp_path / "project"
    root.mkdir(exist_ok=True)
    (root / "notes.txt").write_text("mine")
    out = run_cli("init", str(root), *args)
    assert out.returncode == 1, out.stdout
    assert files(root) == ["notes.txt"]
    assert out.stderr.startswith("error:")
    return " ".join(out.stderr.split())


@pytest.fixture
def churn_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    make_churn(400, seed=1).to_csv(path, index=False)
    return path


def test_bad_target(tmp_path: Path, churn_csv: Path) -> None:
    message = bad(tmp_path, "--data", str(churn_csv), "--target", "churn")
    assert "column 'churn' (--target) is not in the data. Did you mean 'churned'?" in message


def test_all_null_and_single_valued_targets(tmp_path: Path) -> None:
    frame = make_churn(400, seed=1)
    frame["empty"] = np.nan
    frame["constant"] = 1
    frame.to_csv(tmp_path / "t.csv", index=False)
    message = bad(tmp_path, "--data", str(tmp_path / "t.csv"), "--target", "empty")
    assert "'empty' (--target) has only missing values" in message
    message = bad(tmp_path, "--data", str(tmp_path / "t.csv"), "--target", "constant")
    assert "'constant' (--target) holds one value (1) in every row" in message


def test_a_file_that_does_not_parse(tmp_path: Path) -> None:
    (tmp_path / "broken.csv").write_bytes(b"a,b\n1,2\n\xff\xfe\x00,3\n")
    message = bad(tmp_path, "--data", str(tmp_path / "broken.csv"), "--target", "a")
    assert "broken.csv: not valid utf-8 text" in message
    (tmp_path / "broken.parquet").write_bytes(b"not parquet")
    message = bad(tmp_path, "--data", str(tmp_path / "broken.parquet"), "--target", "a")
    assert "cannot be read as Parquet" in message
    message = bad(tmp_path, "--data", str(tmp_path / "missing.csv"), "--target", "a")
    assert "missing.csv: no such file or folder (--data)" in message
    (tmp_path / "table.xlsx").write_bytes(b"")
    message = bad(tmp_path, "--data", str(tmp_path / "table.xlsx"), "--target", "a")
    assert "cannot tell the format from its extension" in message


def test_a_task_that_does_not_fit(tmp_path: Path, churn_csv: Path) -> None:
    message = bad(tmp_path, "--data", str(churn_csv), "--target", "plan", "--task", "regression")
    assert "--task regression needs a numeric target; 'plan' holds text values" in message
    message = bad(tmp_path, "--data", str(churn_csv), "--target", "churned", "--task", "binry")
    assert "unknown task 'binry' (--task)" in message


def test_flags_that_exclude_each_other(tmp_path: Path, churn_csv: Path) -> None:
    message = bad(tmp_path, "--data", str(churn_csv), "--target", "churned", "--example", "churn")
    assert "--example and --data/--sql exclude each other" in message
    assert "need --target COLUMN" in bad(tmp_path, "--data", str(churn_csv))
    for flag in ("--rows", "--seed"):
        message = bad(tmp_path, "--data", str(churn_csv), "--target", "churned", flag, "500")
        assert "--rows and --seed size and seed the generated example data" in message


def test_an_existing_project_needs_force(tmp_path: Path, churn_csv: Path) -> None:
    root = tmp_path / "p"
    headway.init_project(root, data=churn_csv, target="churned")
    before = (root / "headway.yaml").read_text()
    with pytest.raises(ConfigError, match=r"headway.yaml already exists; .* --force"):
        headway.init_project(root, data=churn_csv, target="plan")
    assert (root / "headway.yaml").read_text() == before
    headway.init_project(root, data=churn_csv, target="plan", force=True)
    assert load_config(root / "headway.yaml").task == "multiclass"


def test_errors_from_the_python_api_write_nothing(tmp_path: Path) -> None:
    frame = make_churn(300, seed=2)
    with pytest.raises(DataError, match="holds one value"):
        headway.init_project(tmp_path / "p", data=frame.assign(churned=0), target="churned")
    with pytest.raises(ConfigError, match="Did you mean 'churned'"):
        headway.init_project(tmp_path / "p", data=frame, target="Churned")
    assert not (tmp_path / "p").exists()


# Sources: inside the project, SQL.


def test_a_file_inside_the_project_and_sql(tmp_path: Path) -> None:
    import duckdb

    root = tmp_path / "p"
    (root / "data").mkdir(parents=True)
    frame = make_churn(400, seed=3)
    frame.to_csv(root / "data" / "customers.csv", index=False)
    headway.init_project(root, data=root / "data" / "customers.csv", target="churned")
    assert load_config(root / "headway.yaml").data.source.path == "data/customers.csv"

    database = tmp_path / "shop.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE TABLE customers AS SELECT * FROM frame")
    out = run_cli(
        "init",
        str(tmp_path / "q"),
        "--sql",
        "SELECT * FROM customers",
        "--database",
        str(database),
        "--target",
        "churned",
    )
    assert out.returncode == 0, out.stderr
    config = yaml.safe_load((tmp_path / "q" / "headway.yaml").read_text())
    assert config["data"]["source"] == {
        "query": "SELECT * FROM customers",
        "database": str(database),
    }
    assert config["data"]["id_column"] == "customer_id"
