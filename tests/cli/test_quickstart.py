from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_cli


def test_quickstart_end_to_end(tmp_path: Path) -> None:
    target = tmp_path / "qs"
    out = run_cli("quickstart", "--dir", str(target), "--rows", "3000")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    for stage in ("data", "train", "evaluate", "gate", "register"):
        assert f"✓ {stage}" in text
    assert "registered   churn v1 @champion" in text
    assert "served       churn v1 at http://127.0.0.1:" in text
    assert "prediction " in text and "probability 0." in text
    assert "Server stopped" in text
    status = json.loads(run_cli("status", "--project", str(target), "--json").stdout)
    assert status["models"][0]["aliases"] == {"champion": "1"}
    # A second quickstart reuses the project instead of failing on it.
    again = run_cli("quickstart", "--dir", str(target))
    assert again.returncode == 0, again.stderr
    assert "reusing the project" in again.stdout
    assert "unchanged: reused the validated snapshot" in again.stdout
