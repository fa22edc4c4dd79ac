"""The dry run runs request code in the sealed worker on mock data and reports the output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from datasite.review import dryrun
from datasite.sandbox import bwrap

pytestmark = pytest.mark.skipif(
    bwrap.probe() is not None, reason="bubblewrap cannot start a sandbox on this machine"
)
CODE = """@sy.syft_function(input_policy=policy)
def fit(images, weights):
    import numpy as np
    return {"w": np.asarray(weights["w"], dtype=np.float32) + images.mean(), "n": len(images)}
"""


def test_dry_run_reports_output_shapes() -> None:
    kwargs = {"images": np.zeros((4, 2)), "weights": {"w": [1, 2]}}

    result = dryrun.run(CODE, "fit", kwargs, timeout_s=60)

    assert result["ok"], result
    assert [(i["key"], i["shape"], i["dtype"]) for i in result["output"]["items"]] == [
        ("w", [2], "float32"),
        ("n", [], "int"),
    ]
    assert result["egress"] == "unexpected_array"  # no weights argument of that shape


def test_dry_run_is_sealed_from_the_admin_secrets_files_and_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "identity.json"
    secret.write_text("{}")
    code = (
        "def spy(x):\n    import os, socket\n    out = {'ran': 1}\n"
        "    try:\n        socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
        "        out['network'] = 1\n    except OSError:\n        pass\n"
        "    if os.environ.get('DATASITE_ADMIN_PASSWORD'):\n        out['password'] = 1\n"
        f"    if os.path.exists({str(secret)!r}):\n        out['file'] = 1\n"
        "    return out\n"
    )
    monkeypatch.setenv("DATASITE_ADMIN_PASSWORD", "secret-for-this-test")

    result = dryrun.run(code, "spy", {"x": 1}, timeout_s=60)

    assert result["ok"] and result["output"]["keys"] == ["ran"]


def test_dry_run_reports_a_failure_and_a_timeout() -> None:
    failed = dryrun.run("def f(x):\n    return x['missing']\n", "f", {"x": {}}, timeout_s=60)
    slow = dryrun.run("def f(x):\n    while True:\n        pass\n", "f", {"x": 1}, timeout_s=2)

    assert not failed["ok"] and failed["error"].startswith("KeyError")
    assert not slow["ok"] and "timed out" in slow["error"]
