"""An approved function's assets are loaded when the admin approves it, so its first call
does not read them (datasite/syftio/server/warmup.py)."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_call_path import COUNTING, SERVER_WITH_ASSET, tagged_lines

pytestmark = pytest.mark.integration

FIRST_CALL = (
    COUNTING
    + textwrap.dedent(
        """
        from datasite.syftio.server import assetcache, callpath, warmup
        assetcache.keep_assets(64)  # both modes keep assets between calls
        callpath.read_each_object_once()
        """
    )
    + SERVER_WITH_ASSET
    + textwrap.dedent(
        """
        if sys.argv[1] == "warm":
            warmup.install(server.python_server)
        @sy.syft_function(
            input_policy=sy.ExactMatch(x=asset), output_policy=OutputPolicyExecuteCount(limit=2)
        )
        def total(x):
            return float(x.sum())
        client.code.request_code_execution(total)
        admin.requests[0].approve()
        warmup.wait()
        reads.clear()
        value = client.code.total(x=asset).get()
        print("FIRST", reads[str(asset.action_id)], value, len(assetcache.kept_ids()))
        """
    )
)


def test_the_first_call_finds_its_assets_loaded_at_approval(tmp_path: Path) -> None:
    script = tmp_path / "first_call.py"
    script.write_text(FIRST_CALL)
    with ThreadPoolExecutor(2) as pool:
        cold, warm = pool.map(lambda mode: tagged_lines(script, mode, "FIRST")["FIRST"],
                              ("cold", "warm"))  # fmt: skip
    # (asset reads in the first call, its result, assets kept after it)
    assert cold == [1.0, 66.0, 1.0]  # the first call read the asset itself
    assert warm == [0.0, 66.0, 1.0]  # read at approval: the first call found it kept
