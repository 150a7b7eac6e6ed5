"""Prediction logs for the tests: one fresh log per test on every backend.

``embedded`` and ``sqlite`` always run. ``postgresql`` reuses the control-plane tests'
throwaway cluster (skipped with the reason when PostgreSQL is not installed). ``s3`` runs
against moto's S3 server, started once per session on 127.0.0.1.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from headway.predictions import BasePredictionLog, open_prediction_log
from tests.controlplane.conftest import PostgresServer, postgres_server  # noqa: F401
from tests.helpers import free_port

BACKENDS = ["embedded", "sqlite", "postgresql", "s3"]
_BUCKET = "headway-predictions"
_prefixes = itertools.count()


@dataclass(frozen=True)
class LogSpec:
    """Where one test's log lives: opened as often as a test likes, in any process (the
    ``AWS_*`` variables of the S3 backend are in the environment)."""

    url: str | None
    root: Path
    fsync: str = "batch"

    def open(self) -> BasePredictionLog:
        return open_prediction_log(self.url, self.root, fsync=self.fsync)


@dataclass(frozen=True)
class MotoServer:
    endpoint: str

    def env(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    """moto's standalone S3 server on a free port, with one bucket."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    exe = exe or shutil.which("moto_server")
    assert exe, "moto_server is not installed (pip install 'moto[server]')"
    port = free_port()
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"moto_server exited with {proc.returncode}"
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "moto_server did not answer in 60s"
                time.sleep(0.2)
        created = httpx.put(f"{endpoint}/{_BUCKET}", timeout=10)
        assert created.status_code == 200, created.text
        yield MotoServer(endpoint)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_env(moto_server: MotoServer, monkeypatch: pytest.MonkeyPatch) -> MotoServer:
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    for name, value in moto_server.env().items():
        monkeypatch.setenv(name, value)
    return moto_server


@pytest.fixture(params=BACKENDS)
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> LogSpec:
    """A fresh, empty prediction log on each backend."""
    root = tmp_path / "predictions"
    if request.param == "embedded":
        return LogSpec(None, root)
    if request.param == "sqlite":
        return LogSpec(f"sqlite:///{tmp_path / 'predictions.db'}", root)
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return LogSpec(server.create_database(), root)
    request.getfixturevalue("s3_env")
    return LogSpec(f"s3://{_BUCKET}/test-{next(_prefixes)}/log", root)


@pytest.fixture
def log(spec: LogSpec) -> Iterator[BasePredictionLog]:
    with spec.open() as opened:
        yield opened
