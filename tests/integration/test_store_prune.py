"""The store stops growing with every call (datasite/syftio/server/prune.py): the results and
uploaded arguments of earlier calls are deleted, the latest stays readable, the execution
cap still holds and the audit log keeps every execution's output hash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
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


PRUNER_READS = textwrap.dedent(  # an in-process server with the pruner, approved code, 8 calls
    """
    import collections, sys, threading
    from pathlib import Path
    import numpy as np
    import syft as sy
    from syft.service.output.output_service import ExecutionOutput
    from syft.service.policy.policy import OutputPolicyExecuteCount
    from syft.store.db.stash import ObjectStash
    from datasite.syftio.server import callpath, prune
    callpath.look_up_roles_once()  # as a site installs it (roles_once)
    reads = collections.Counter()
    original = ObjectStash.row_as_obj
    def row_as_obj(self, row):  # what the pruning thread deserializes, by kind
        obj = original(self, row)
        if threading.current_thread().name.startswith("prune"):
            reads["records" if isinstance(obj, ExecutionOutput) else type(obj).__name__] += 1
        return obj
    ObjectStash.row_as_obj = row_as_obj
    server = sy.orchestra.launch(name=f"prune-reads-{Path(sys.argv[0]).parent.name}", reset=True)
    admin = server.login(email="info@openmined.org", password="changethis")
    admin.register(name="a", email="a@x.org", password="pw-12345678", password_verify="pw-12345678")
    data = np.arange(12, dtype=np.float32)
    asset = sy.Asset(name="x", data=data, mock=data)
    admin.upload_dataset(sy.Dataset(name="d", asset_list=[asset]))
    client = server.login(email="a@x.org", password="pw-12345678")
    asset = client.datasets["d"].assets["x"]
    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(client=client, x=asset, w=float),
        output_policy=OutputPolicyExecuteCount(limit=20),
    )
    def total(x, w):
        return float(x.sum()) + w
    client.code.request_code_execution(total)
    admin.requests[0].approve()
    pruner = prune.install(server.python_server)
    per_call, values, results, objects, users = [], [], [], 0, 0
    for index in range(8):
        reads.clear()
        pointer = client.code.total(x=asset, w=float(index))
        values.append(pointer.get())
        results.append(pointer.id)
        pruner.pool.submit(lambda: None).result()  # this call's pruning has finished
        per_call.append(reads.pop("records", 0))
        objects += sum(n for kind, n in reads.items() if kind.endswith("Object"))
        users = max(users, reads["User"])  # role look-ups (syft reads the user record)
    print("RECORDS", *per_call)
    print("VALUES", *values)
    from datasite.syftio.server.history import stored_fields
    stash = server.python_server.services.action.stash
    kept = [int(stored_fields(stash, uid) is not None) for uid in results]
    print("STORED", objects, users, *kept)
    print("KNOWN", len(pruner.known[str(client.code[0].id)]), len(pruner.done))
    """
)


def test_pruning_reads_only_the_records_it_has_not_pruned(tmp_path: Path) -> None:
    """The pruning thread's work per call does not grow with the rounds: it deserializes the
    new call's execution record and the one it prunes, not the whole history (which it did:
    1, 2, ..., 8 records in calls 1..8), and no stored object it deletes (it read each one)."""
    script = tmp_path / "prune_reads.py"
    script.write_text(PRUNER_READS)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    lines = {x.split()[0]: x.split()[1:] for x in done.stdout.splitlines() if x[:1].isupper()}
    assert "KNOWN" in lines, done.stdout[-2000:] + done.stderr[-2000:]
    assert [int(n) for n in lines["RECORDS"]] == [1, 2, 2, 2, 2, 2, 2, 2]
    assert [float(v) for v in lines["VALUES"]] == [66.0 + i for i in range(8)]
    # All 8 executions are known; the 7 before the last were handed to pruning (``done``).
    assert [int(n) for n in lines["KNOWN"]] == [8, 7]
    # The 7 earlier results are gone, the last is kept, none was deserialized to be deleted
    # (no blob: deleted by their row; with blobs: the HTTP test above), and the site's role
    # was looked up once per pass (it was once per object read and per delete).
    assert [int(n) for n in lines["STORED"]] == [0, 1] + [0] * 7 + [1]
