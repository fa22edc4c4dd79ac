"""Small synthetic imaging data with a learnable signal, for tests, benchmarks and dry runs.

Class 1 images hold a bright square blob on noise; class 0 images are noise only. Arrays
follow the asset schema: uint8 ``N x 1 x S x S`` images and int64 labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fedcommon.schema import IMAGE_DTYPE, LABEL_DTYPE


def blob_images(
    n: int, size: int = 32, seed: int = 0, positive_rate: float = 0.5, contrast: float = 90.0
) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """``n`` images and labels; ``positive_rate`` sets the share of class 1 (non-IID knob)."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < positive_rate).astype(LABEL_DTYPE)
    images = rng.normal(70.0, 30.0, size=(n, 1, size, size))
    half = max(size // 8, 2)
    for index in np.flatnonzero(labels):
        row, col = rng.integers(half, size - half, size=2)
        images[index, 0, row - half : row + half, col - half : col + half] += contrast
    return np.clip(images, 0, 255).astype(IMAGE_DTYPE), labels


def site_split(
    n_train: int,
    n_val: int,
    size: int,
    seed: int,
    positive_rate: float = 0.5,
    contrast: float = 90.0,
) -> dict[str, npt.NDArray[Any]]:
    """Train and validation arrays for one site, keyed by asset name."""
    images, labels = blob_images(n_train, size, seed, positive_rate, contrast)
    val_images, val_labels = blob_images(n_val, size, seed + 10_000, positive_rate, contrast)
    return {"images": images, "labels": labels, "val_images": val_images, "val_labels": val_labels}
