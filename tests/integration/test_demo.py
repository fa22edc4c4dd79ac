"""README command 1 works end to end (tiny configuration) and leaves nothing running."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fedcommon.transport import is_ready

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_runs_every_role_and_stops_its_sites(tmp_path: Path) -> None:
    out = tmp_path / "demo"

    result = subprocess.run(
        [sys.executable, "-m", "demo", "--out", str(out), "--n", "40", "--size", "32",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "PHI verify: PASS" in result.stdout
    assert "risk" in result.stdout.lower()  # the admin's review was shown
    assert "all sites pooled" in result.stdout  # the pooled global AUC is printed
    assert result.stdout.count("audit chain intact") == 3
    summary = json.loads((out / "runs" / "fedavg" / "summary.json").read_text())
    assert summary["rounds_completed"] == 1
    assert sorted(summary["sites_used"]) == ["charite", "karolinska", "st-olav"]
    assert len(list(out.glob("audit-*.html"))) == 3
    urls = [
        line.split("=", 1)[1].strip().strip('"')
        for line in (out / "sites.toml").read_text().splitlines()
        if line.startswith("url")
    ]
    assert len(urls) == 3 and not any(is_ready(url) for url in urls)
