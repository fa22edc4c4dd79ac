"""What a call carries is not read back from the store within that call
(datasite/syftio/server/carried.py, callpath.py): plain arguments are never stored; one the call
had to store (its data in the blob store) is used as its store check read it."""

from __future__ import annotations

import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.test_call_path import COUNTING, SERVER_WITH_ASSET, tagged_lines

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
            output_policy=OutputPolicyExecuteCount(limit=4),
        )
        def total(x, w):
            w["w"][0] = 1000.0  # the function's own copy: the stored argument must not change
            return float(x.sum() + w["w"].sum())
        client.code.request_code_execution(total)
        admin.requests[0].approve()
        from datasite.syftio.server import carried as carrying
        plain_value = carrying._plain
        carrying._plain = lambda value: False  # as for a carried argument in the blob store
        store = server.python_server.services.action.stash
        values = []
        for step in range(2):
            carried = uploaded(client, {"w": {"w": np.ones(5, dtype=np.float32)}}, inline=True)
            reads.clear()
            values.append(result_of(client.code.total(x=asset, **carried)))
        stored = store.get(carried["w"].id, server.python_server.verify_key).unwrap()
        kept = float(stored.syft_action_data["w"].sum())
        print("CARRIED", reads[str(carried["w"].id)], *values, kept)
        carrying._plain = plain_value
        plain = uploaded(client, {"w": {"w": np.ones(5, dtype=np.float32)}}, inline=True)
        reads.clear()
        value = result_of(client.code.total(x=asset, **plain))
        print("PLAIN", reads[str(plain["w"].id)], value, int(store.exists(None, plain["w"].id)))
        """
    )
)


def test_an_argument_a_call_carries_is_not_read_back(tmp_path: Path) -> None:
    """On an in-process syft server: two calls each carrying weights the site must store
    (as one in the blob store would be), then one carrying plain weights (never stored); how
    often each call deserialized its own argument from the store, the values, and what the
    store holds afterwards."""
    script = tmp_path / "carried.py"
    script.write_text(CARRIED)

    def run(mode: str) -> dict[str, list[float]]:
        return tagged_lines(script, mode, "CARRIED", "PLAIN")

    with ThreadPoolExecutor(2) as pool:
        plain, patched = pool.map(run, ("plain", "patched"))
    # CARRIED [reads of the argument during the call, first value, second value, stored sum]:
    # without stored_not_reread the execution deserializes the argument stored just before
    # it; with it, not at all. Same values (66 + 1000 + 4); the function's change to its
    # copy is not stored.
    assert plain["CARRIED"] == [1.0, 1070.0, 1070.0, 5.0]
    assert patched["CARRIED"] == [0.0, 1070.0, 1070.0, 5.0]
    # PLAIN [reads, value, stored (1) or not (0)]: plain weights are never stored, never read.
    assert plain["PLAIN"] == patched["PLAIN"] == [0.0, 1070.0, 0.0]
