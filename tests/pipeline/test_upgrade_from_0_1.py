"""Projects trained and registered by headway 0.1.0 keep working after the upgrade: they
serve, re-gate, show their model card and their audit log.

The projects come from ``tests/fixtures/legacy-0.1.0.tar.gz`` (built by
``tests/fixtures/make_legacy_0_1_0.py`` with the 0.1.0 release under /tmp/headway-legacy).
"""

from __future__ import annotations

import json
import sqlite3
import tarfile
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect

from headway import Project
from headway.controlplane import SCHEMA_VERSION
from tests.helpers import run_cli, serving

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy-0.1.0.tar.gz"
BUILT_AT = "/tmp/headway-legacy"


def _relocate_sqlite(path: Path, old: str, new: str) -> None:
    """Rewrite every text value holding ``old`` (absolute artifact locations) to ``new``."""
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
            for column in columns:
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) '
                    f'WHERE typeof("{column}") = \'text\' AND instr("{column}", ?) > 0',
                    (old, new, old),
                )


def _unpack(tmp_path: Path) -> Path:
    """The 0.1.0 projects, unpacked under ``tmp_path`` with their stores moved there."""
    root = tmp_path / "legacy"
    with tarfile.open(FIXTURE) as archive:
        archive.extractall(root, filter="data")
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".md", ".html", ""):  # "": MLmodel
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            if BUILT_AT in text:
                path.write_text(text.replace(BUILT_AT, str(root)), encoding="utf-8")
    for db in root.glob("*/.headway/mlflow.db"):
        _relocate_sqlite(db, BUILT_AT, str(root))
    return root


@pytest.fixture
def legacy(tmp_path: Path) -> Path:
    return _unpack(tmp_path)


def _records(project: Path, data_file: str, target: str, n: int = 5) -> list[dict[str, object]]:
    frame = pd.read_csv(project / data_file).tail(n).drop(columns=[target])
    return json.loads(frame.to_json(orient="records"))


def test_the_fixture_is_a_0_1_project(legacy: Path) -> None:
    with sqlite3.connect(legacy / "churn" / ".headway" / "control.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = db.execute("SELECT value FROM headway_meta WHERE key='schema_version'").fetchone()
    assert "headway_alembic_version" not in tables
    assert version == ("1",)


@pytest.mark.parametrize(
    ("name", "data_file", "target"),
    [
        ("churn", "data/customers.csv", "churned"),
        pytest.param("demand", "data/sales.csv", "units_sold", marks=pytest.mark.slow),
    ],
)
def test_a_0_1_champion_still_serves(legacy: Path, name: str, data_file: str, target: str) -> None:
    project = legacy / name
    rows = _records(project, data_file, target)
    with serving(project) as url:
        version = httpx.get(f"{url}/version", timeout=10).json()
        answer = httpx.post(f"{url}/invocations", json={"dataframe_records": rows}, timeout=30)
    assert version["model"]["name"] == name and version["model"]["version"] == "1"
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == len(rows)
    assert len(body["prediction_ids"]) == len(rows)


def test_a_0_1_project_regates_and_keeps_its_audit_log(legacy: Path) -> None:
    project = legacy / "churn"
    before = run_cli("audit", "--project", str(project), "--json")
    assert before.returncode == 0, before.stderr
    old_events = json.loads(before.stdout)
    assert [e["action"] for e in old_events] == ["registered", "blessed", "promoted"]
    assert all(e["model"] == "churn" and e["version"] == "1" for e in old_events)

    gated = run_cli("gate", "--candidate", "churn/1", "--project", str(project), "--json")
    assert gated.returncode == 0, gated.stderr
    blessing = json.loads(gated.stdout)["blessing"]
    assert blessing["blessed"] is True
    (champion_check,) = [c for c in blessing["checks"] if c["name"] == "champion"]
    assert champion_check["detail"] == "v1 is the champion itself: judged on its bounds alone"

    after = json.loads(run_cli("audit", "--project", str(project), "--json").stdout)
    assert after[:3] == old_events
    assert [e["action"] for e in after[3:]] == ["blessed"]
    assert after[3]["details"]["on_demand"] is True

    engine = create_engine(Project.load(project).control_db_url)
    try:
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(
                "SELECT value FROM headway_meta WHERE key='schema_version'"
            ).scalar_one()
        assert "headway_alembic_version" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert int(stored) == SCHEMA_VERSION


def test_a_0_1_version_shows_its_card_status_and_lineage(legacy: Path) -> None:
    project = legacy / "churn"
    card = run_cli("card", "churn/1", "--project", str(project))
    assert card.returncode == 0, card.stderr
    assert "churn" in card.stdout and "roc_auc" in card.stdout
    status = run_cli("status", "--project", str(project), "--json")
    assert status.returncode == 0, status.stderr
    (model,) = json.loads(status.stdout)["models"]
    assert model["aliases"] == {"champion": "1"}
    lineage = run_cli("lineage", "churn@champion", "--project", str(project))
    assert lineage.returncode == 0, lineage.stderr
    assert "5758af7fb732" in lineage.stdout
