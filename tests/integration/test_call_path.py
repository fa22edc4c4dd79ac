"""The call path of an approved function (datasite/syftio/server/callpath.py): the result comes
back in the call's own reply, and each bound object is read from the store once per call."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from datasite.syftio.client import admin_login, login, upload_dataset
from lab.process import SiteProcess
from researcher.syftio.code import result_of, uploaded
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user

pytestmark = pytest.mark.integration


def approved_sum(site: SiteProcess) -> tuple[Any, Any]:
    """A researcher's approved ``total(data, weights)`` on ``site``: (their client, the asset)."""
    import syft as sy

    add_user(site.url, "ada@uni.example", "researcher")
    data = np.arange(12, dtype=np.float32)
    upload_dataset(admin_login(site.url, ADMIN), "d", "d", {"x": (data, np.zeros_like(data))})
    ds = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    asset = ds.datasets["d"].assets["x"]

    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(client=ds, data=asset, weights=dict),
        output_policy=sy.SingleExecutionExactOutput(),
    )
    def total(data, weights):  # type: ignore[no-untyped-def]
        summed = float(data.sum() + weights["w"].sum())
        return {"n_samples": int(data.size), "sum": summed, "weights": {"w": weights["w"] + 1}}

    ds.code.request_code_execution(total)
    for request in admin_login(site.url, ADMIN).requests:
        request.approve()
    return ds, asset


def test_a_call_returns_its_result_without_a_second_request(sites: SiteFactory) -> None:
    from syft.service.action.action_data_empty import ActionDataEmpty

    patched = sites.make("inline")
    plain = sites.make("plain", extra_env={"DATASITE_UNSAFE_SKIP_FIXES": "result_inline"})
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda site: site.start(), (patched, plain)))
    weights = {"w": np.ones(600_000, dtype=np.float32)}  # 2.4 MB: goes to the blob store
    pointers = {}
    for site in (patched, plain):
        ds, asset = approved_sum(site)
        if site is patched:  # the researcher's own upload path (researcher.syftio.code)
            pointers[site.name] = ds.code.total(data=asset, **uploaded(ds, {"weights": weights}))
        else:  # syft's
            pointers[site.name] = ds.code.total(data=asset, weights=weights)

    inline = pointers["inline"].syft_action_data_cache  # carried in the reply, 2.4 MB included
    assert isinstance(inline, dict)
    assert isinstance(pointers["plain"].syft_action_data_cache, ActionDataEmpty)  # syft 0.9.5
    for value in (inline, result_of(pointers["inline"]), result_of(pointers["plain"])):
        assert (value["n_samples"], value["sum"]) == (12, 600_066.0)
        assert np.array_equal(value["weights"]["w"], weights["w"] + 1)


READS = textwrap.dedent(
    """
    import collections, sys
    import numpy as np
    import syft as sy
    from syft.store.db.stash import ObjectStash
    if sys.argv[1] == "patched":
        from datasite.syftio.server import callpath
        callpath.read_each_object_once()
    reads, counting = collections.Counter(), []
    original = ObjectStash.row_as_obj
    def row_as_obj(self, row):
        obj = original(self, row)
        if counting:
            reads[str(obj.id)] += 1
        return obj
    ObjectStash.row_as_obj = row_as_obj
    server = sy.orchestra.launch(name="reads-" + sys.argv[1], reset=True)
    admin = server.login(email="info@openmined.org", password="changethis")
    admin.register(name="a", email="a@x.org", password="pw-12345678", password_verify="pw-12345678")
    data = np.arange(12, dtype=np.float32)
    asset = sy.Asset(name="x", data=data, mock=data * 0)
    admin.upload_dataset(sy.Dataset(name="d", asset_list=[asset]))
    client = server.login(email="a@x.org", password="pw-12345678")
    asset = client.datasets["d"].assets["x"]
    @sy.syft_function_single_use(x=asset)
    def total(x):
        return float(x.sum())
    client.code.request_code_execution(total)
    admin.requests[0].approve()
    counting.append(True)
    value = client.code.total(x=asset).get()
    print("READS", reads[str(asset.action_id)], value)
    """
)


def reads_of_the_asset(script: Path, mode: str) -> tuple[int, float]:
    """One approved call on an in-process syft server; how often the asset was deserialized.
    (A file, not ``-c``: syft reads the function's source.)"""
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, timeout=300
    )
    line = [x for x in done.stdout.splitlines() if x.startswith("READS ")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    _, count, value = line[0].split()
    return int(count), float(value)


def test_each_bound_object_is_read_once_per_execution(tmp_path: Path) -> None:
    script = tmp_path / "reads.py"
    script.write_text(READS)
    with ThreadPoolExecutor(2) as pool:
        plain, patched = pool.map(lambda m: reads_of_the_asset(script, m), ("plain", "patched"))

    assert plain == (3, 66.0)  # syft 0.9.5: flatten_action_arg, is_valid, filter_kwargs
    assert patched == (1, 66.0)
