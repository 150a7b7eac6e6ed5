"""Fixtures shared by every test package: a small project trained once per session (real MLflow
store), and a real ``redis-server``."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from headway import PipelineResult, Project, run_pipeline
from tests.helpers import free_port, make_project


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, PipelineResult]:
    """One project trained once per test session (an MLflow SQLite store is slow to create)."""
    root = make_project(tmp_path_factory.mktemp("trained") / "churn")
    project = Project.load(root)
    return project, run_pipeline(project)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway ``redis-server`` without persistence on a free port."""
    exe = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if exe is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    try:
        import redis
    except ImportError:
        pytest.skip("the redis client is not installed (pip install 'headway[redis]')")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not answer in 20s"
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
