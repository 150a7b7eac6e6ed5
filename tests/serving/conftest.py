"""Serving fixtures: ``headway serve`` as a real process on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from headway import PipelineResult, Project
from tests.helpers import free_port


@pytest.fixture(scope="session")
def server(trained: tuple[Project, PipelineResult]) -> Iterator[str]:
    """``headway serve`` running as a real process on a free 127.0.0.1 port."""
    project, _ = trained
    port = free_port()
    exe = shutil.which("headway", path=str(Path(sys.executable).parent)) or shutil.which("headway")
    assert exe
    proc = subprocess.Popen(
        [exe, "serve", "--project", str(project.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"headway serve exited: {proc.stdout.read() if proc.stdout else ''}"
                )
            try:
                if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("headway serve did not become ready in 60s")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
