"""The same pipeline against a real ``mlflow server`` process, chosen by HEADWAY_TRACKING_URI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from headway import Project, run_pipeline
from headway.features import feature_frame
from headway.registry import CHAMPION, ModelRegistry
from tests.helpers import free_port, make_project, run_cli


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    assert exe, "the mlflow command is not installed"
    proc = subprocess.Popen(
        [
            exe, "server",
            "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination", str(root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, "mlflow server exited"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start in 120s"
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_run_status_and_predict_against_a_tracking_server(
    tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "p", rows=1500)
    monkeypatch.setenv("HEADWAY_TRACKING_URI", mlflow_server)
    project = Project.load(root)
    assert project.tracking_uri == mlflow_server
    result = run_pipeline(project)
    assert result.version.version == "1" and result.version.aliases == (CHAMPION,)
    assert result.tracking_uri == mlflow_server
    assert not (root / ".headway" / "mlflow.db").exists()  # nothing stored locally

    env = {"HEADWAY_TRACKING_URI": mlflow_server}
    status = json.loads(run_cli("status", "--project", str(root), "--json", env=env).stdout)
    assert status["tracking_uri"] == mlflow_server
    assert status["models"][0]["aliases"] == {"champion": "1"}

    # The champion, downloaded from the server, predicts as the model trained in memory.
    loaded = ModelRegistry(mlflow_server).load_estimator(f"models:/churn@{CHAMPION}")
    frame = pd.read_csv(project.data_path).tail(200)
    rows = feature_frame(frame, result.model)
    trained = result.model.estimator
    np.testing.assert_array_equal(loaded.predict(rows), trained.predict(rows))
    np.testing.assert_allclose(
        loaded.predict_proba(rows), trained.predict_proba(rows), rtol=0, atol=1e-9
    )
    # A plain MLflow client (headway not imported) loads it from the server too.
    script = f"""
import json, sys, mlflow, pandas as pd
mlflow.set_tracking_uri({mlflow_server!r})
model = mlflow.pyfunc.load_model("models:/churn@champion")
frame = pd.read_csv({str(project.data_path)!r}).tail(200).drop(columns=["churned"])
labels = model.predict(frame)
assert "headway" not in sys.modules, "headway was imported"
print(json.dumps([int(p) for p in labels]))
"""
    plain = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert plain.returncode == 0, plain.stderr[-2000:]
    labels = json.loads(plain.stdout.strip().splitlines()[-1])
    assert labels == [int(p) for p in trained.predict(rows)]


def test_another_machine_reproduces_a_version_from_the_servers_snapshot(
    tmp_path: Path, mlflow_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project(tmp_path / "trainer", rows=1500, name="shared-repro")
    monkeypatch.setenv("HEADWAY_TRACKING_URI", mlflow_server)
    first = run_pipeline(Project.load(root))
    second = run_pipeline(Project.load(root))  # same data: the snapshot is not logged again
    client = ModelRegistry(mlflow_server).client

    def snapshot_files(run_id: str) -> list[str]:
        return sorted(f.path for f in client.list_artifacts(run_id, "data/snapshot"))

    assert snapshot_files(first.run_id) == [
        "data/snapshot/data.parquet",
        "data/snapshot/validation.json",
        "data/snapshot/version.json",
    ]
    assert snapshot_files(second.run_id) == []
    for result in (first, second):
        tags = client.get_run(result.run_id).data.tags
        assert tags["headway.snapshot_run"] == first.run_id
        version = client.get_model_version("shared-repro", result.version.version)
        assert version.tags["headway.snapshot_run"] == first.run_id

    # A teammate's checkout: the project file only, no data, no .headway state.
    other = tmp_path / "teammate"
    other.mkdir()
    shutil.copy(root / "headway.yaml", other / "headway.yaml")
    env = {"HEADWAY_TRACKING_URI": mlflow_server}
    lineage = run_cli("lineage", "shared-repro/1", "--project", str(other), "--json", env=env)
    assert lineage.returncode == 0, lineage.stderr
    dataset = json.loads(lineage.stdout)["dataset"]
    assert dataset["hash"] == first.dataset.content_hash
    assert dataset["n_rows"] == first.dataset.n_rows
    assert dataset["snapshot"] == f"in the tracking server's artifact store (run {first.run_id})"

    out = run_cli("reproduce", "shared-repro/1", "--project", str(other), "--json", env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["matches"] is True and report["identical"] is True
    assert report["dataset_hash"] == first.dataset.content_hash
    stored = list((other / ".headway" / "datasets").glob("*/data.parquet"))
    assert len(stored) == 1
    kept = pd.read_parquet(root / ".headway" / "datasets" / stored[0].parent.name / "data.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(stored[0]), kept)
