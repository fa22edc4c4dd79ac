"""The researcher's call decides, per argument, between sending it in the call and the site's
blob store by syft's size threshold; for the plain values a call sends it bounds the size
without serializing (researcher/syftio/code.py: goes_to_blob_storage)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from researcher.syftio.code import _size_bound, goes_to_blob_storage

WEIGHTS = {f"layer{i}.weight": np.ones((16, 16, 3, 3), np.float32) * i for i in range(8)}
VALUES: list[Any] = [
    WEIGHTS,
    {"nested": [WEIGHTS, {"k": np.arange(10)}], "task": "evaluate_then_train", "round": 3},
    "train",
    7,
    [1.5, None, True, b"raw", "é" * 100],
    np.zeros(0, np.float64),
]


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
def test_the_bound_is_never_below_what_syft_serializes(value: Any) -> None:
    from syft.util.util import get_mb_serialized_size

    bound = _size_bound(value)
    assert bound is not None
    assert bound >= get_mb_serialized_size(value) * 1024 * 1024


def test_values_syft_must_measure_itself_are_measured_by_syft() -> None:
    assert _size_bound({"model": object()}) is None
    assert _size_bound(np.array([object()], dtype=object)) is None


def test_the_decision_is_syfts_at_the_threshold() -> None:
    metadata = SimpleNamespace(min_size_blob_storage_mb=1)
    assert goes_to_blob_storage(WEIGHTS, metadata) is False  # 74 kB: clearly inline
    noise = np.random.default_rng(0).random(300_000, np.float32)  # (syft compresses arrays)
    big = {"w": noise}  # 1.2 MB: over the threshold, measured by syft
    assert goes_to_blob_storage(big, metadata) is True
    near = {"w": noise[:200_000]}  # 0.8 MB: too close to skip the measurement; below it
    assert goes_to_blob_storage(near, metadata) is False
