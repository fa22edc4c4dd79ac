"""The store stops growing with every call (datasite/syftio/server/prune.py): the results and
uploaded arguments of earlier calls are deleted, the latest stays readable, the execution
cap still holds and the audit log keeps every execution's output hash."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from datasite.audit.log import AuditLog
from datasite.syftio.client import admin_login, login, upload_dataset
from lab.process import SiteProcess
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user

pytestmark = pytest.mark.integration
MB = 1_000_000
N = 600_000  # float32: 2.4 MB per argument and per result, so both go to the blob store


def capped_site(sites: SiteFactory, limit: int) -> tuple[SiteProcess, Any, Any]:
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    site = sites.start("prune")
    add_user(site.url, "ada@uni.example", "researcher")
    data = np.ones(4, dtype=np.float32)
    upload_dataset(admin_login(site.url, ADMIN), "d", "d", {"x": (data, data)})
    ds = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    asset = ds.datasets["d"].assets["x"]

    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(client=ds, data=asset, weights=dict),
        output_policy=OutputPolicyExecuteCount(limit=limit),
    )
    def step(data, weights):  # type: ignore[no-untyped-def]
        return {"weights": {"w": weights["w"] + float(data.sum())}}  # the no-schema rule

    ds.code.request_code_execution(step)
    for request in admin_login(site.url, ADMIN).requests:
        request.approve()
    return site, ds, asset


def settled_bytes(site: SiteProcess, timeout: float = 60.0) -> int:
    """The store's size once the background pruning stopped changing it."""
    last, deadline = -1, time.monotonic() + timeout
    while time.monotonic() < deadline:
        size = site.store_bytes()
        if size == last:
            return size
        last = size
        time.sleep(2.0)
    return last


def test_earlier_results_are_pruned_and_the_cap_still_holds(sites: SiteFactory) -> None:
    site, ds, asset = capped_site(sites, limit=4)
    weights = {"w": np.random.default_rng(0).random(N, dtype=np.float32)}  # incompressible
    results = [ds.code.step(data=asset, weights=weights).get()]
    after_first = settled_bytes(site)
    for _ in range(3):
        results.append(ds.code.step(data=asset, weights=results[-1]["weights"]).get())
    growth = settled_bytes(site) - after_first

    assert growth < 2 * MB, f"store grew {growth / MB:.1f} MB over 3 calls"  # ~15 MB unpruned
    assert np.allclose(results[-1]["weights"]["w"], weights["w"] + 16.0)  # each call added 4
    with pytest.raises(Exception, match=r"(?i)policy is not valid|used up|denied"):
        ds.code.step(data=asset, weights=results[-1]["weights"]).get()
    executed = [r for r in AuditLog(site.data_dir / "audit").records() if r["event"] == "executed"]
    assert len(executed) == 4
    assert all(len(r["details"]["output"]["sha256"]) == 64 for r in executed)
