"""Mock twins: what a researcher may see instead of the private assets.

Same shapes, dtypes, columns and label prevalence as the private data; content drawn from the
chest phantom and from fixed public vocabularies, never from real pixels or header values.
``nearest_real`` measures how far each mock image is from every real one (reported).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from datasite.ingest.deid import VENDORS
from datasite.synth.phantom import render
from fedcommon.schema import IMAGE_DTYPE, LABEL_DTYPE, METADATA_COLUMNS

Array = NDArray[Any]

MOCK_VOCABULARY: dict[str, tuple[str, ...]] = {
    "modality": ("CR", "DX"),
    "view_position": ("PA", "AP"),
    "manufacturer": tuple(name for name, _ in VENDORS),
    "photometric": ("MONOCHROME1", "MONOCHROME2"),
}
METADATA_DTYPES: dict[str, str] = {
    "patient_key": "object", "modality": "object", "view_position": "object",
    "manufacturer": "object", "photometric": "object", "bits_stored": "int64",
    "rows": "int64", "columns": "int64", "pixel_spacing_mm": "float64",
    "label": "int64", "label_name": "object",
}  # fmt: skip


def metadata_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The metadata table with exactly METADATA_COLUMNS and fixed dtypes."""
    frame = pd.DataFrame(rows, columns=list(METADATA_COLUMNS))
    return frame.astype(METADATA_DTYPES)


def mock_labels(labels: Array, rng: np.random.Generator) -> Array:
    """A shuffled label vector with exactly the same count per class."""
    out: Array = rng.permutation(labels).astype(LABEL_DTYPE)
    return out


def mock_images(labels: Array, size: int, rng: np.random.Generator) -> Array:
    """Phantom radiographs, ``N x 1 x size x size`` uint8: a lesion where the label is 1 or
    above 2, an effusion where it is 2 (the multi-class synthetic set's classes)."""
    images = np.empty((len(labels), 1, size, size), dtype=IMAGE_DTYPE)
    for i, label in enumerate(labels):
        finding = "effusion" if label == 2 else ""
        unit = render(rng, size, size, lesion=bool(label > 0 and not finding), noise=0.02,
                      finding=finding)  # fmt: skip
        images[i, 0] = np.round(unit * 255.0).astype(IMAGE_DTYPE)
    return images


def mock_metadata(
    labels: Array, class_names: tuple[str, ...], size: int, rng: np.random.Generator
) -> pd.DataFrame:
    """Synthetic metadata rows with the real table's columns and dtypes."""
    n = len(labels)
    pick = {k: rng.choice(np.array(v, dtype=object), size=n) for k, v in MOCK_VOCABULARY.items()}
    rows = [
        {
            "patient_key": f"M{int(rng.integers(10**12)):012d}",
            **{k: str(v[i]) for k, v in pick.items()},
            "bits_stored": int(rng.choice([10, 12, 14, 15])),
            "rows": size * 16,
            "columns": size * 16,
            "pixel_spacing_mm": round(float(rng.uniform(0.115, 0.2)), 4),
            "label": int(labels[i]),
            "label_name": class_names[int(labels[i])],
        }
        for i in range(n)
    ]
    return metadata_frame(rows)


def _standardise(images: Array) -> tuple[Array, Array]:
    flat = images.reshape(len(images), -1).astype(np.float32) / 255.0
    centred = flat - flat.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    return np.asarray(centred / np.maximum(norms, 1e-6)), np.asarray(flat)


def nearest_real(
    mocks: Array, reals: Array, rng: np.random.Generator, sample: int = 256
) -> dict[str, float | int]:
    """Distance from (a sample of) mock images to their nearest real image.

    Returns the smallest per-pixel RMS difference over all pairs (0 = a copy), the largest
    Pearson correlation, the number of mocks identical to a real image, and the sample sizes.
    """
    mocks = mocks[rng.permutation(len(mocks))[:sample]]
    reals = reals[rng.permutation(len(reals))[: sample * 8]]
    mock_z, mock_flat = _standardise(mocks)
    real_z, real_flat = _standardise(reals)
    correlation = mock_z @ real_z.T
    squared = (
        (mock_flat**2).sum(1)[:, None]
        + (real_flat**2).sum(1)[None, :]
        - 2 * mock_flat @ real_flat.T
    )
    rms = np.sqrt(np.maximum(squared, 0.0) / mock_flat.shape[1])
    real_bytes = {np.ascontiguousarray(r).tobytes() for r in reals}
    identical = sum(np.ascontiguousarray(m).tobytes() in real_bytes for m in mocks)
    return {
        "min_rms": round(float(rms.min()), 4),
        "max_correlation": round(float(correlation.max()), 4),
        "identical": int(identical),
        "mocks_checked": len(mocks),
        "reals_checked": len(reals),
    }
