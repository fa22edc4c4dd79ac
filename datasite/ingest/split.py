"""Patient-level train / validation split that hits the requested fraction or says why not.

Whole patients go to one side. Patients are visited in a keyed-hash order (stable, not
sortable by anything identifying) and one joins the validation side only when that brings
its size closer to the target, so a patient with many images cannot overshoot it. The result
is within ``tolerance(n)`` images of ``fraction x n`` (the larger of 2 images and 5 %) unless
the patients' sizes make that impossible; then, and whenever there are too few patients for
a meaningful validation set, a warning says so.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[Any]
MIN_VAL_PATIENTS = 5  # fewer validation patients: a noisy estimate, say so


def tolerance(n: int) -> int:
    """How far (in images) the validation size may be from ``fraction x n``."""
    return max(2, round(0.05 * n))


def _order(keys: list[str]) -> list[str]:
    return sorted(set(keys), key=lambda k: hashlib.sha256(k.encode()).hexdigest())


def _choose(sizes: Counter[str], target: float, total: int) -> set[str]:
    chosen: set[str] = set()
    size = 0
    for key in _order(list(sizes)):
        bigger = size + sizes[key]
        if abs(bigger - target) < abs(size - target) and bigger < total:
            chosen.add(key)
            size = bigger
    return chosen


def _warnings(patients: int, chosen: int, size: int, target: float, n: int) -> list[str]:
    if target == 0:
        return []
    if patients == 1:
        return ["one patient only: no validation split is possible; all images are in train"]
    found = []
    if abs(size - target) > tolerance(n):
        found.append(
            f"validation holds {size} of {n} images ({size / n:.0%}), not the {target / n:.0%} "
            f"requested: patients have too many images each to split closer"
        )
    if chosen < MIN_VAL_PATIENTS:
        found.append(
            f"few patients: validation holds {chosen} patient(s) of {patients}; "
            "its scores will be noisy"
        )
    return found


def split_by_patient(patient_keys: list[str], val_fraction: float) -> tuple[Array, list[str]]:
    """A boolean ``is_val`` mask over the images and the warnings about it."""
    n = len(patient_keys)
    sizes = Counter(patient_keys)
    target = val_fraction * n
    chosen = _choose(sizes, target, n) if target > 0 else set()
    is_val = np.array([key in chosen for key in patient_keys], dtype=bool)
    return is_val, _warnings(len(sizes), len(chosen), int(is_val.sum()), target, n)
