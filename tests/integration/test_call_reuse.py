"""What a call stores for itself is not read back from the store within that call
(datasite/syftio/server/callpath.py): the arguments a call carries (``args_inline``) are used as
their store check read them, not deserialized again for the execution."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_call_path import COUNTING, SERVER_WITH_ASSET

pytestmark = pytest.mark.integration

CARRIED = (
    COUNTING
    + textwrap.dedent(
        """
        from datasite.syftio.server import callpath
        from researcher.syftio.code import result_of, uploaded
        callpath.store_inline_arguments()
        callpath.read_each_object_once()
        if sys.argv[1] == "patched":
            callpath.return_checked_object()
        """
    )
    + SERVER_WITH_ASSET
    + textwrap.dedent(
        """
        @sy.syft_function(
            input_policy=sy.MixedInputPolicy(client=client, x=asset, w=dict),
            output_policy=OutputPolicyExecuteCount(limit=3),
        )
        def total(x, w):
            w["w"][0] = 1000.0  # the function's own copy: the stored argument must not change
            return float(x.sum() + w["w"].sum())
        client.code.request_code_execution(total)
        admin.requests[0].approve()
        values = []
        for step in range(2):
            carried = uploaded(client, {"w": {"w": np.ones(5, dtype=np.float32)}}, inline=True)
            reads.clear()
            values.append(result_of(client.code.total(x=asset, **carried)))
        stored = server.python_server.services.action.stash.get(
            carried["w"].id, server.python_server.verify_key
        ).unwrap()
        kept = float(stored.syft_action_data["w"].sum())
        print("CARRIED", reads[str(carried["w"].id)], *values, kept)
        """
    )
)


def test_an_argument_a_call_carries_is_not_read_back(tmp_path: Path) -> None:
    """Two calls, each carrying its weights inline, on an in-process syft server: how often
    the second call deserialized its own argument from the store, its value, and the stored
    argument afterwards."""
    script = tmp_path / "carried.py"
    script.write_text(CARRIED)

    def run(mode: str) -> list[float]:
        done = subprocess.run(
            [sys.executable, str(script), mode], capture_output=True, text=True, timeout=300
        )
        lines = [x for x in done.stdout.splitlines() if x.startswith("CARRIED ")]
        assert len(lines) == 1, done.stdout[-2000:] + done.stderr[-2000:]
        return [float(v) for v in lines[0].split()[1:]]

    with ThreadPoolExecutor(2) as pool:
        plain, patched = pool.map(run, ("plain", "patched"))
    # [reads of the carried argument during the call, first value, second value, stored sum]:
    # without the patch the execution deserializes the argument stored just before it (its
    # read-back after the insert comes on top, outside the counted part); with it, not at all.
    # Same values (66 + 1000 + 4), and the function's change to its copy is not stored.
    assert plain == [1.0, 1070.0, 1070.0, 5.0]
    assert patched == [0.0, 1070.0, 1070.0, 5.0]
