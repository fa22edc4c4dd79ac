"""A call that carries its arguments gets its result in its reply only, and the site keeps
no copy of it (datasite/syftio/server/replyonly.py); syft's own client keeps syft's path."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from datasite.audit.log import AuditLog
from datasite.syftio.client import admin_login
from researcher.syftio.code import result_of, uploaded
from tests.conftest import ADMIN, SiteFactory
from tests.integration.test_call_path import approved_sum

pytestmark = pytest.mark.integration


def test_a_carried_call_leaves_no_result_in_the_store(sites: SiteFactory) -> None:
    patched = sites.make("reply")
    plain = sites.make("stored", extra_env={"DATASITE_UNSAFE_SKIP_FIXES": "result_unstored"})
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda site: site.start(), (patched, plain)))
    weights = {"w": np.ones(1000, dtype=np.float32)}  # plain: carried in the call
    for site in (patched, plain):
        ds, asset = approved_sum(site, limit=2)
        admin = admin_login(site.url, ADMIN)
        # The researcher client's call: arguments carried, the result read from the reply.
        pointer = ds.code.total(data=asset, **uploaded(ds, {"weights": weights}, inline=True))
        value = result_of(pointer)
        assert (value["n_samples"], value["sum"]) == (12, 1066.0)
        assert np.array_equal(value["weights"]["w"], weights["w"] + 1)
        kept = admin.api.services.action.exists(pointer.id)
        assert kept is (site is plain), f"{site.name}: result stored: {kept}"
        # syft's own client (it stores its arguments, then fetches the result with .get())
        # keeps syft's path: the result is stored and .get() finds it.
        second = ds.code.total(data=asset, weights={"w": np.zeros(3, dtype=np.float32)})
        assert second.get()["sum"] == 66.0
        assert admin.api.services.action.exists(second.id) is True
    for site in (patched, plain):  # what left the site is on record either way
        site.stop()
        executed = [
            r for r in AuditLog(site.data_dir / "audit").records() if r["event"] == "executed"
        ]
        assert [len(r["details"]["output"]["sha256"]) for r in executed] == [64, 64]
        # The approval loaded the function's one asset (warmup.py), over HTTP as admins do.
        log = (site.data_dir / "logs" / "datasite.log").read_text()
        assert "loaded 1 asset(s) of approved request" in log
