"""The dry run runs request code in a separate process on mock data and reports the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasite.review import dryrun

CODE = """@sy.syft_function(input_policy=policy)
def fit(images, weights):
    import numpy as np
    return {"w": np.asarray(weights["w"], dtype=np.float32) + images.mean(), "n": len(images)}
"""


def test_dry_run_reports_output_shapes(tmp_path: Path) -> None:
    dryrun.prepare(tmp_path, CODE, "fit", {"images": np.zeros((4, 2)), "weights": {"w": [1, 2]}})

    result = dryrun.run(tmp_path, timeout_s=60)

    assert result["ok"], result
    assert [(i["key"], i["shape"], i["dtype"]) for i in result["output"]["items"]] == [
        ("w", [2], "float32"),
        ("n", [], "int"),
    ]


def test_dry_run_runs_in_another_process_without_the_admin_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = (
        "def spy(x):\n    import os\n"
        "    return {'pid': os.getpid(), 'pw': os.environ.get('DATASITE_ADMIN_PASSWORD'),"
        " 'cwd': os.getcwd()}\n"
    )
    monkeypatch.setenv("DATASITE_ADMIN_PASSWORD", "secret-for-this-test")
    dryrun.prepare(tmp_path, code, "spy", {"x": 1})

    result = dryrun.run(tmp_path, timeout_s=60)

    items = {i["key"]: i for i in result["output"]["items"]}
    assert items["pw"]["type"] == "NoneType"  # not inherited from the admin's environment
    assert result["ok"] and items["pid"]["type"] == "int"


def test_dry_run_reports_a_failure_and_a_timeout(tmp_path: Path) -> None:
    dryrun.prepare(tmp_path / "a", "def f(x):\n    return x['missing']\n", "f", {"x": {}})
    dryrun.prepare(tmp_path / "b", "def f(x):\n    while True:\n        pass\n", "f", {"x": 1})

    failed = dryrun.run(tmp_path / "a", timeout_s=60)
    slow = dryrun.run(tmp_path / "b", timeout_s=2)

    assert not failed["ok"] and failed["error"].startswith("KeyError")
    assert not slow["ok"] and "timed out" in slow["error"]
