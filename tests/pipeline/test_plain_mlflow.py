"""Who can load a registered model: plain MLflow for classification and regression models,
headway as well for forecasting models and XGBoost classifiers of labels other than 0..k-1.

Each model is loaded with ``mlflow.pyfunc.load_model`` in a fresh interpreter where importing
headway fails (as on a machine without it); the version tag ``headway.requires_headway``, the
model's ``requirements.txt`` and the model card must say the same thing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow.artifacts
import pytest
import yaml
from mlflow import MlflowClient

from headway import Project, run_pipeline
from headway.datasets import write_example
from headway.registry import ModelRegistry, layout
from tests.helpers import make_project, run_cli

FAST = {"budget": {"trials": 2, "timeout_seconds": 60}, "n_workers": 1}

# A stand-in for "headway is not installed": any import of it fails.
_LOAD = """
import sys
class _NoHeadway:
    def find_spec(self, name, path=None, target=None):
        if name == "headway" or name.startswith("headway."):
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, _NoHeadway())
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
frame = pd.read_csv(sys.argv[3]).drop(columns=[sys.argv[4]]).tail(20)
print(len(model.predict(frame)))
"""

CASES = {
    # name: (example, headway.yaml overrides, data file, target, needs headway)
    "binary-lightgbm": (
        "churn",
        {"training": {**FAST, "model_families": ["lightgbm"]}},
        "data/customers.csv",
        "churned",
        False,
    ),
    "multiclass-text-lightgbm": (
        "churn",
        {
            "task": "multiclass",
            "data": {"target": "plan"},
            "training": {**FAST, "model_families": ["lightgbm"], "metric": "f1_macro"},
            "gates": {"min_metrics": {}},
        },
        "data/customers.csv",
        "plan",
        False,
    ),
    "regression-linear": (
        "churn",
        {
            "task": "regression",
            "data": {"target": "monthly_charges"},
            "training": {**FAST, "model_families": ["linear"], "metric": "rmse"},
            "gates": {"min_metrics": {}},
        },
        "data/customers.csv",
        "monthly_charges",
        False,
    ),
    "multiclass-text-xgboost": (
        "churn",
        {
            "task": "multiclass",
            "data": {"target": "plan"},
            "training": {**FAST, "model_families": ["xgboost"], "metric": "f1_macro"},
            "gates": {"min_metrics": {}},
        },
        "data/customers.csv",
        "plan",
        True,
    ),
    "forecast-lightgbm": (
        "demand",
        {"training": {**FAST, "model_families": ["lightgbm"]}},
        "data/sales.csv",
        "units_sold",
        True,
    ),
}


def _project(root: Path, example: str, overrides: dict[str, object]) -> Project:
    if example == "churn":
        make_project(root, rows=1500, evaluation={"explain": False}, **overrides)
    else:
        write_example(example, root, n_rows=2000)
        path = root / "headway.yaml"
        config = yaml.safe_load(path.read_text())
        for key, value in overrides.items():
            config.setdefault(key, {}).update(value)  # type: ignore[arg-type]
        config.setdefault("evaluation", {})["explain"] = False
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return Project.load(root)


# The binary case runs by default; the other tasks and families in the slow run.
@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=[pytest.mark.slow] if c != "binary-lightgbm" else [])
        for c in sorted(CASES)
    ],
)
def test_who_can_load_the_model(tmp_path: Path, case: str) -> None:
    example, overrides, data_file, target, needs_headway = CASES[case]
    project = _project(tmp_path / "p", example, overrides)
    result = run_pipeline(project)
    name, version = result.version.name, result.version.version
    info = ModelRegistry(project.tracking_uri).get_version(name, version)
    assert info.tags[layout.REQUIRES_HEADWAY.name] == str(needs_headway).lower()

    requirements = Path(_requirements_file(project, name, version, tmp_path)).read_text()
    assert ("headway==" in requirements) is needs_headway

    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            _LOAD,
            project.tracking_uri,
            f"models:/{name}/{version}",
            str(project.root / data_file),
            target,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    expected_ok = not needs_headway
    assert (loaded.returncode == 0) is expected_ok, loaded.stderr[-1500:]
    assert (loaded.stdout.strip() == "20") is expected_ok
    assert ("No module named 'headway" in loaded.stderr) is needs_headway

    card = run_cli("card", f"{name}/{version}", "--project", str(project.root))
    assert card.returncode == 0, card.stderr
    wording = "needs headway installed" if needs_headway else "headway not needed"
    assert wording in card.stdout


def _requirements_file(project: Project, name: str, version: str, tmp_path: Path) -> str:
    uri = MlflowClient(tracking_uri=project.tracking_uri).get_model_version_download_uri(
        name, version
    )
    return str(
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"{uri}/requirements.txt",
            dst_path=str(tmp_path / "req"),
            tracking_uri=project.tracking_uri,
        )
    )
