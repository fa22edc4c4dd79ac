"""The asset cache's budget (datasite/syftio/server/assetcache.py): how it is set, and that
the least recently used assets go first when the kept ones outgrow it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from datasite.errors import ConfigError
from datasite.syftio.server import assetcache


def test_the_budget_comes_from_the_environment_and_bad_values_say_what_to_set() -> None:
    assert assetcache.budget_mb({}) == assetcache.DEFAULT_BUDGET_MB
    assert assetcache.budget_mb({"DATASITE_ASSET_CACHE_MB": "0"}) == 0
    with pytest.raises(ConfigError, match="DATASITE_ASSET_CACHE_MB must be a whole number"):
        assetcache.budget_mb({"DATASITE_ASSET_CACHE_MB": "1.5GB"})


def kept(n_bytes: int) -> Any:
    half = SimpleNamespace(syft_action_data_cache=np.zeros(n_bytes, dtype=np.uint8))
    found = SimpleNamespace(ok=lambda: SimpleNamespace(private_obj=half, mock_obj=half))
    return ("fields", found)


def test_the_least_recently_used_assets_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assetcache, "_kept", assetcache.collections.OrderedDict())
    for key in ("a", "b", "c"):  # each 2 x 1000 bytes (private and mock halves)
        assetcache._kept[key] = kept(1000)
    assetcache._kept.move_to_end("a")  # "a" was used last
    assetcache._trim(4500)
    assert assetcache.kept_ids() == ["c", "a"]
    assetcache._trim(1000)  # smaller than any one asset: none is kept
    assert assetcache.kept_ids() == []


def test_an_asset_larger_than_the_budget_is_not_kept_after_the_call_that_loaded_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """syft loads an asset's data during the call, after the read that kept it: the budget is
    applied again when the call returns, so an asset that never fits is not held between
    calls, and one that fits stays."""
    monkeypatch.setattr(assetcache, "_kept", assetcache.collections.OrderedDict())

    def call(n_bytes: int) -> str:
        assetcache._kept["asset"] = kept(0)  # kept at its read, its data not loaded yet
        loaded = kept(n_bytes)[1].ok().private_obj
        assetcache._kept["asset"][
            1
        ].ok().private_obj.syft_action_data_cache = loaded.syft_action_data_cache
        return "result"

    run = assetcache.trimmed_after(call, budget=10_000)
    assert run(50_000) == "result"
    assert assetcache.kept_ids() == []  # 50 kB never fits 10 kB
    assert run(1_000) == "result"
    assert assetcache.kept_ids() == ["asset"]
