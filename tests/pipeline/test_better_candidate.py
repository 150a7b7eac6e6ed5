"""The positive path: a clearly better candidate replaces the champion through ``headway run``.

The first champion learns from a table whose informative columns were shuffled (their
values no longer go with the rows' outcomes); the next run learns from the real table. On
the same test rows the new candidate beats the champion beyond noise, is blessed, and takes
the ``champion`` alias; the old champion is recorded as the previous one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from headway.controlplane import AuditLog
from headway.datasets import write_example
from headway.project import Project
from tests.helpers import run_cli

CASES = {
    # example: (data file, columns shuffled for the weak champion)
    "churn": (
        "data/customers.csv",
        ["contract", "tenure_months", "support_tickets_90d", "days_since_last_login"],
    ),
    "credit": (
        "data/applications.csv",
        # Risk comes from many small effects here: shuffling four columns leaves a model
        # within noise of the real one, so the weak champion loses most of them.
        [
            "late_payments_2y",
            "debt_to_income",
            "credit_history_years",
            "income",
            "employment",
            "interest_rate",
            "loan_amount",
            "num_open_accounts",
        ],
    ),
}


def _shuffled(frame: pd.DataFrame, columns: list[str], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for column in columns:
        out[column] = rng.permutation(out[column].to_numpy())
    return out


# credit repeats churn's check on another example: in the slow run.
@pytest.mark.parametrize(
    "example",
    [pytest.param(e, marks=[pytest.mark.slow] if e != "churn" else []) for e in sorted(CASES)],
)
def test_a_clearly_better_candidate_replaces_the_champion(tmp_path: Path, example: str) -> None:
    data_file, columns = CASES[example]
    root = tmp_path / example
    write_example(example, root, n_rows=3000)
    config_path = root / "headway.yaml"
    config = yaml.safe_load(config_path.read_text())
    config["training"]["budget"] = {"trials": 3, "timeout_seconds": 60}
    config["training"]["n_workers"] = 1
    config["training"]["model_families"] = ["lightgbm"]
    config.setdefault("evaluation", {})["explain"] = False
    # The weak champion must pass the value gates for a comparison to happen at all.
    config.setdefault("gates", {})["min_metrics"] = {}
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    real = pd.read_csv(root / data_file)

    _shuffled(real, columns).to_csv(root / data_file, index=False)
    weak = run_cli("run", "--project", str(root))
    assert weak.returncode == 0, weak.stderr
    real.to_csv(root / data_file, index=False)
    strong = run_cli("run", "--project", str(root))
    assert strong.returncode == 0, strong.stderr

    status = json.loads(run_cli("status", "--project", str(root), "--json").stdout)
    (model,) = status["models"]
    assert model["aliases"] == {"champion": "2"}
    by_version = {v["version"]: v for v in model["versions"]}
    assert by_version["2"]["blessed"] is True
    assert by_version["2"]["metrics"]["roc_auc"] > by_version["1"]["metrics"]["roc_auc"]

    project = Project.load(root)
    with AuditLog.for_project(project) as audit:
        blessed = audit.events(model=example, version="2", action="blessed")
        promoted = audit.events(model=example, version="2", action="promoted")
    assert len(blessed) == 1 and "improves beyond noise" in blessed[0].reason
    assert len(promoted) == 1 and promoted[0].details["previous"] == "1"
    card = run_cli("card", f"{example}/2", "--project", str(root))
    assert card.returncode == 0 and "improves beyond noise" in card.stdout
