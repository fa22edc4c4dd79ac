"""Each fix in datasite/syftio/fixes.py is needed: the same scenario on a site launched
without the fix (DATASITE_UNSAFE_SKIP_FIXES) shows the syft 0.9.5 defect."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from datasite.syftio.client import admin_login, login, upload_dataset
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user

pytestmark = pytest.mark.integration
FIXED = pytest.param("", id="fixed")
# role_registry also guards code.store_execution_output
UNFIXED = "execution_cap,role_registry,single_run"


def can_forge_execution_records(ds: Any) -> bool:
    """Whether a researcher's API offers code.store_execution_output (fake history)."""
    try:
        return callable(ds.api.services.code.store_execution_output)
    except Exception:  # noqa: BLE001 - syft raises its own error for a hidden method
        return False


def prepared_site(sites: SiteFactory, skip: str) -> Any:
    site = sites.start("fixes", extra_env={"DATASITE_UNSAFE_SKIP_FIXES": skip})
    add_user(site.url, "ada@uni.example", "researcher")
    add_user(site.url, "aud@h.example", "compliance")
    data = np.arange(6, dtype=np.float32)
    upload_dataset(admin_login(site.url, ADMIN), "d", "d", {"x": (data, data * 0)})
    return site


def submit_capped_function(site: Any, limit: int) -> Any:
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    ds = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    asset = ds.datasets["d"].assets["x"]

    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(client=ds, data=asset, weights=dict),
        output_policy=OutputPolicyExecuteCount(limit=limit),
    )
    def total(data, weights):  # type: ignore[no-untyped-def]
        return {"sum": float(data.sum()) * weights["scale"]}

    ds.code.request_code_execution(total)
    for request in admin_login(site.url, ADMIN).requests:
        request.approve()
    return ds, asset


def call_n_times(ds: Any, asset: Any, n: int) -> list[str]:
    outcomes = []
    for _ in range(n):
        try:
            ds.code.total(data=asset, weights={"scale": 2.0}).get()
            outcomes.append("ran")
        except Exception as err:  # noqa: BLE001 - the refusal is what we look at
            outcomes.append(f"refused: {str(err)[:80]}")
    return outcomes


@pytest.mark.parametrize("skip", [FIXED, pytest.param(UNFIXED, id="unfixed")])
def test_execution_cap_is_enforced_only_with_the_fix(sites: SiteFactory, skip: str) -> None:
    site = prepared_site(sites, skip)
    ds, asset = submit_capped_function(site, limit=2)

    outcomes = call_n_times(ds, asset, 3)

    assert can_forge_execution_records(ds) == bool(skip)
    assert outcomes[:2] == ["ran", "ran"]
    site.stop()  # flushes the site's log, which names every run of researcher code
    runs = (site.data_dir / "logs" / "datasite.log").read_text().count("sealed run of total")
    calls = outcomes.count("ran")
    assert runs == (2 * calls if skip else calls)  # 0.9.5 runs each call twice (mock too)
    if skip:
        assert outcomes[2] == "ran"  # syft 0.9.5 defect: a third call past limit=2 runs
    else:
        assert outcomes[2].startswith("refused")
        assert "policy is not valid" in outcomes[2].lower()


@pytest.mark.parametrize("skip", [FIXED, pytest.param(UNFIXED, id="unfixed")])
def test_compliance_guest_is_read_only_only_with_the_fix(sites: SiteFactory, skip: str) -> None:
    import syft as sy

    site = prepared_site(sites, skip)
    auditor = login(site.url, "aud@h.example", RESEARCHER_PASSWORD)
    asset = auditor.datasets["d"].assets["x"]

    @sy.syft_function_single_use(data=asset)
    def peek(data):  # type: ignore[no-untyped-def]
        return data

    if skip:
        auditor.code.request_code_execution(peek)
        assert len(list(admin_login(site.url, ADMIN).requests)) == 1
    else:
        with pytest.raises(Exception, match=r"no access to|no submodule or method"):
            auditor.code.request_code_execution(peek)
        assert len(list(admin_login(site.url, ADMIN).requests)) == 0


def reference_to(entry: Any) -> Any:
    """An object holding no data of its own, naming a blob entry as its stored data."""
    from syft.service.action.action_object import ActionObject
    from syft.types.datetime import DateTime

    forged = ActionObject.empty(syft_internal_type=dict)
    forged.syft_blob_storage_entry_id = entry
    forged.syft_action_saved_to_blob_store = True
    forged.syft_created_at = DateTime.now()
    return forged


@pytest.mark.parametrize("skip", [FIXED, pytest.param("blob_refs,empty_pointers", id="unfixed")])
def test_an_object_naming_someone_elses_stored_data_is_refused(
    sites: SiteFactory, skip: str
) -> None:
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount
    from syft.types.errors import SyftException
    from syft.types.twin_object import TwinObject

    from researcher.syftio.code import result_of, uploaded

    site = prepared_site(sites, skip)
    add_user(site.url, "bob@uni.example", "researcher")
    ada = login(site.url, "ada@uni.example", RESEARCHER_PASSWORD)
    secret = np.random.default_rng(0).random(300_000)  # 2.4 MB, incompressible: a blob entry
    weights = uploaded(ada, {"w": {"k": secret}})["w"]
    entry = weights.syft_blob_storage_entry_id
    assert entry is not None  # Ada's own upload names her own entry: accepted

    bob = login(site.url, "bob@uni.example", RESEARCHER_PASSWORD)
    asset = bob.datasets["d"].assets["x"]
    # Bob knows the id of Ada's object; the empty pointer syft hands him named her entry.
    pointer = bob.api.services.action.get_pointer(weights.id)
    assert pointer.syft_blob_storage_entry_id == (entry if skip else None)

    @sy.syft_function(
        input_policy=sy.MixedInputPolicy(client=bob, data=asset, w=dict),
        output_policy=OutputPolicyExecuteCount(limit=5),
    )
    def leak(data, w):  # type: ignore[no-untyped-def]
        return {"w": w}

    bob.code.request_code_execution(leak)
    for request in admin_login(site.url, ADMIN).requests:
        request.approve()  # approved by mistake
    private = sy.ActionObject.from_obj({})
    private.syft_action_saved_to_blob_store = False  # a small private half, held inline
    twin = TwinObject(private_obj=private, mock_obj=reference_to(entry))

    if skip:  # syft 0.9.5: the approved function reads Ada's data for Bob
        stored = bob.api.services.action.set(reference_to(entry))
        assert np.array_equal(result_of(bob.code.leak(data=asset, w=stored))["w"]["k"], secret)
        bob.api.services.action.set(twin)  # and a twin's mock entry becomes readable by all
        assert bob.api.services.blob_storage.read(entry).read()["k"].shape == secret.shape
        return
    for forged in (reference_to(entry), twin):
        with pytest.raises(SyftException, match="stored data you cannot read"):
            bob.api.services.action.set(forged)
    with pytest.raises(SyftException, match="stored data you cannot read"):
        bob.code.leak(data=asset, w=reference_to(entry))  # carried in the call (args_inline)
    with pytest.raises(SyftException):
        bob.api.services.blob_storage.read(entry)
