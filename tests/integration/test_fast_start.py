"""A datasite starts without torch (datasite/syftio/server/startup.py) and loads it once up:
torch tensors still travel both ways through an approved function."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from datasite.syftio.client import login
from tests.conftest import RESEARCHER_PASSWORD, SiteFactory, add_user

pytestmark = pytest.mark.integration


def wait_for_log(path: Path, text: str, timeout: float = 180.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        time.sleep(0.5)
    raise AssertionError(f"{text!r} not in {path} after {timeout:.0f} s")


def test_tensors_round_trip_after_a_torch_free_start(sites: SiteFactory) -> None:
    """syft's torch serializer is registered once torch loads after start: a researcher's
    tensor still goes to the site and back. (Approved code never sees tensors: the sealed
    worker takes and returns plain arrays only.)"""
    import syft as sy
    import torch

    site = sites.start("fast")
    log = wait_for_log(site.data_dir / "logs" / "datasite.log", "torch loaded")
    assert log.index("ready on") < log.index("torch loaded")  # served before torch loaded
    add_user(site.url, "ada@uni.example", "researcher")
    ds = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    sent = torch.arange(3, dtype=torch.float32) * 2.5

    back = sy.ActionObject.from_obj(sent).send(ds).get()

    assert isinstance(back, torch.Tensor)
    assert torch.equal(back, sent)
    # once torch is in, the start-up heap (syft's and torch's objects) is frozen: the
    # collector's full passes no longer walk it (datasite/syftio/server/startup.settle_heap)
    log = wait_for_log(site.data_dir / "logs" / "datasite.log", "start-up heap frozen")
    frozen = re.search(r"start-up heap frozen \((\d+) objects\)", log)
    assert frozen is not None and int(frozen.group(1)) > 100_000


def test_stored_data_reprs_are_summarized() -> None:
    """What syft stores as an object's text is cut to a prefix plus "(N characters hidden)":
    with the array_repr patch the full text it renders first is short."""
    import re

    from datasite.syftio.server import startup
    from fedcommon.arrays import use_numpy_text

    startup.import_syft()
    from syft.service.action.action_object import ActionObject

    weights = {"conv.weight": np.linspace(0.0, 1.0, 900, dtype=np.float32)}

    def rendered_chars() -> int:
        text = ActionObject.from_obj(weights).syft_action_data_str_
        hidden = re.search(r"\((\d+) characters hidden\)", text)
        return len(text) + (int(hidden.group(1)) if hidden else 0)

    before = rendered_chars()
    startup.cheap_array_reprs()
    try:
        after = rendered_chars()
        small = repr(np.arange(3, dtype=np.float32))
        bias = repr(np.zeros(16, dtype=np.float32))
        large = str(np.zeros((320, 1, 32, 32), dtype=np.float32))
    finally:
        use_numpy_text()  # numpy's own again

    assert before > 5000  # 900 numbers in full
    assert after < 300
    assert small == "array([0., 1., 2.], dtype=float32)"  # small arrays keep numpy's text
    assert bias == "array(shape=(16,), dtype=float32)"  # a layer's bias is not printed
    assert large == "array(shape=(320, 1, 32, 32), dtype=float32)"


def test_the_collector_is_paused_for_the_syft_import_only() -> None:
    """``import syft`` makes half a million long-lived objects: the collector walked them in
    nine full passes during the import; paused, it collects none, and is on again after."""
    import subprocess
    import sys

    probe = (
        "import gc\n"
        "passes = []\n"
        "gc.callbacks.append(lambda phase, info: passes.append(info['generation']) if phase == 'start' else None)\n"  # noqa: E501
        "from datasite.syftio.server import startup\n"
        "startup.import_syft()\n"
        "print('FULL', passes.count(2), 'ENABLED', gc.isenabled())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2]).stdout  # fmt: skip
    assert "FULL 0 ENABLED True" in out, out
