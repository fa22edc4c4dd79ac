"""Refuse outputs that carry a run of the bound private values, copied or linearly rescaled.

A schema cannot see pixels copied into a weight-shaped array. The site's assets are integer
valued (uint8 images, int64 labels), so any linear rescaling ``a * x + b`` of a run of them
(``x / 255``, ``(x - 127.5) / 64``, a plain cast) lies on a lattice: consecutive differences
are integer multiples of one step. Trained weights never do.

1. Scan: cut every output array into blocks of ``BLOCK`` values (two offsets, so any run of
   ``1.5 * BLOCK`` values holds a whole block); keep blocks whose differences are integer
   multiples of their smallest step and that change at least ``MIN_CHANGES`` times. O(n).
2. Confirm: look for the block's integer difference pattern, up to a constant factor (so
   any scale and sign), among the differences of each private asset's flattened values.

Only confirmed copies are refused. Cost: the scan on every output; the search only for
lattice blocks (none for real weights). Runs shorter than ``1.5 * BLOCK`` values, copies in
another order (transposed, strided) and values encoded rather than copied are not caught.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from datasite.sandbox.verdict import Refusal, Rule

BLOCK = 32
MIN_CHANGES = 8
MAX_CONFIRM = 64  # lattice blocks searched per output (each is one pass over the assets)
TOLERANCE = 1e-3

IntArray = npt.NDArray[np.int64]


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, npt.NDArray[Any]]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}".lstrip("."))
    elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size >= BLOCK:
        yield path or "(result)", value


def lattice_blocks(values: npt.NDArray[Any]) -> list[IntArray]:
    """Integer difference patterns of the blocks of ``values`` that lie on a lattice."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    found: list[IntArray] = []
    for offset in (0, BLOCK // 2):
        count = (flat.size - offset) // BLOCK
        if count <= 0:
            continue
        blocks = flat[offset : offset + count * BLOCK].reshape(count, BLOCK)
        diffs = np.diff(blocks, axis=1)
        scale = np.abs(blocks).max(axis=1, keepdims=True) + 1e-300
        moving = np.abs(diffs) > scale * 1e-9
        enough = moving.sum(axis=1) >= MIN_CHANGES
        step = np.where(moving, np.abs(diffs), np.inf).min(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(moving, diffs / step, 0.0)
        on_lattice = (np.abs(ratio - np.round(ratio)) < TOLERANCE).all(axis=1)
        small = np.abs(ratio).max(axis=1) <= 65536
        for row in np.flatnonzero(enough & on_lattice & small):
            found.append(np.round(ratio[row]).astype(np.int64))
    return found


def private_differences(asset: Any) -> IntArray | None:
    """Consecutive differences of an integer-valued asset's flattened values (else None)."""
    array = np.asarray(asset)
    if array.dtype.kind not in "biu" or array.size < BLOCK:
        return None
    return np.diff(array.ravel().astype(np.int64))


def contains_pattern(diffs: IntArray, pattern: IntArray) -> bool:
    """Whether ``m * pattern`` (any m != 0) occurs as consecutive entries of ``diffs``."""
    length = pattern.size
    if diffs.size < length:
        return False
    nonzero = np.flatnonzero(pattern)
    pivot = int(nonzero[0])
    end = diffs.size - length + 1
    base = diffs[pivot : pivot + end]
    # positions i where diffs[i + j] * pattern[pivot] == diffs[i + pivot] * pattern[j]
    second = int(nonzero[1]) if nonzero.size > 1 else pivot
    mask = base != 0
    mask &= diffs[second : second + end] * pattern[pivot] == base * pattern[second]
    candidates = np.flatnonzero(mask)
    for j in range(length):
        if candidates.size == 0:
            return False
        keep = diffs[candidates + j] * pattern[pivot] == diffs[candidates + pivot] * pattern[j]
        candidates = candidates[keep]
    return candidates.size > 0


def find_copy(output: Any, private: Mapping[str, Any]) -> Refusal | None:
    """A refusal when an output array carries a run of some private asset's values."""
    indexes = {name: private_differences(asset) for name, asset in private.items()}
    searchable = {name: d for name, d in indexes.items() if d is not None}
    searched = 0
    for key, array in _leaves(output):
        for pattern in lattice_blocks(array):
            if searched >= MAX_CONFIRM:
                return Refusal(Rule.VERBATIM_COPY, f"{key}: too many integer-lattice runs")
            searched += 1
            for name, diffs in searchable.items():
                if contains_pattern(diffs, pattern):
                    detail = f"{key} holds a run of {name}'s values (possibly rescaled)"
                    return Refusal(Rule.VERBATIM_COPY, detail)
    return None
