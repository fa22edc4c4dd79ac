"""Private values copied (or linearly rescaled) into a weight-shaped array are caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from datasite.sandbox.copycheck import find_copy
from datasite.sandbox.verdict import Rule

RNG = np.random.default_rng(7)
IMAGES = RNG.integers(0, 256, size=(20, 1, 32, 32), dtype=np.uint8)
LABELS = RNG.integers(0, 2, size=200).astype(np.int64)
PRIVATE = {"images": IMAGES, "labels": LABELS}


def trained_weights() -> dict[str, Any]:
    return {
        "conv": RNG.normal(0, 0.1, (16, 1, 3, 3)).astype(np.float32),
        "fc": RNG.normal(0, 0.1, (2, 256)).astype(np.float32),
        "bias": np.zeros(2, np.float32),
    }


def hide(values: np.ndarray, transform: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    weights = trained_weights()
    fc = weights["fc"].ravel()
    fc[100 : 100 + len(values)] = transform(values.astype(np.float64)).astype(np.float32)
    weights["fc"] = fc.reshape(2, 256)
    return {"weights": weights}


def test_real_weights_pass() -> None:
    assert find_copy({"weights": trained_weights()}, PRIVATE) is None


def test_lattice_values_not_from_the_assets_pass() -> None:
    made_up = np.arange(60, dtype=np.float64) % 7

    assert find_copy(hide(made_up, lambda x: x / 255), PRIVATE) is None


@pytest.mark.parametrize(
    "transform",
    [
        pytest.param(lambda x: x, id="cast"),
        pytest.param(lambda x: x / 255, id="div255"),
        pytest.param(lambda x: (x - 127.5) / 64, id="normalised"),
        pytest.param(lambda x: -0.01 * x + 3, id="negative-scale"),
    ],
)
def test_pixel_runs_are_caught_under_linear_rescaling(transform: Callable[..., Any]) -> None:
    run = IMAGES.ravel()[5000:5060]

    refusal = find_copy(hide(run, transform), PRIVATE)

    assert refusal is not None and refusal.rule is Rule.VERBATIM_COPY
    assert "images" in refusal.detail


def test_label_runs_are_caught() -> None:
    refusal = find_copy(hide(LABELS[40:110], lambda x: x * 0.5), PRIVATE)

    assert refusal is not None and "labels" in refusal.detail


def test_a_short_run_is_below_what_the_check_sees() -> None:
    assert find_copy(hide(IMAGES.ravel()[:20], lambda x: x / 255), PRIVATE) is None
