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
import pytest

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


def test_run_and_status_against_a_tracking_server(tmp_path: Path, mlflow_server: str) -> None:
    root = make_project(tmp_path / "p", rows=1500)
    env = {"HEADWAY_TRACKING_URI": mlflow_server}
    out = run_cli("run", "--project", str(root), env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "churn v1 -> @champion" in out.stdout
    assert not (root / ".headway" / "mlflow.db").exists()  # nothing stored locally
    status = json.loads(run_cli("status", "--project", str(root), "--json", env=env).stdout)
    assert status["tracking_uri"] == mlflow_server
    assert status["models"][0]["aliases"] == {"champion": "1"}
    script = (
        f"import mlflow; mlflow.set_tracking_uri({mlflow_server!r}); "
        "m = mlflow.pyfunc.load_model('models:/churn@champion'); "
        "print(m.metadata.get_input_schema().input_names()[:2])"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert loaded.returncode == 0, loaded.stderr[-2000:]
