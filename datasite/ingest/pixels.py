"""Stored pixel values -> display values in [0, 1] -> square uint8 at the training size.

Order as in DICOM PS3.3 C.11: modality LUT (rescale slope/intercept), VOI window (or robust
percentiles when there is none), then MONOCHROME1 inversion so that air is always dark.
Resizing keeps the physical aspect ratio and pads to a square with black.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from datasite.ingest.records import Warn

Array = NDArray[Any]


def modality_lut(stored: Array, slope: float = 1.0, intercept: float = 0.0) -> Array:
    """Stored values -> modality values (e.g. HU for CT) as float32."""
    out: Array = stored.astype(np.float32) * np.float32(slope) + np.float32(intercept)
    return out


def voi_window(values: Array, center: float, width: float) -> Array:
    """The DICOM linear window (PS3.3 C.11.2.1.2.1), mapped to [0, 1]."""
    width = max(float(width), 1.0)
    scaled = (values - (center - 0.5)) / (width - 1.0) + 0.5
    out: Array = np.clip(scaled, 0.0, 1.0).astype(np.float32)
    return out


def percentile_window(values: Array, low: float = 0.5, high: float = 99.5) -> Array:
    """A window spanning the given percentiles, for images that carry none."""
    lo, hi = np.percentile(values, [low, high])
    if hi <= lo:
        return np.zeros_like(values, dtype=np.float32)
    out: Array = np.clip((values - lo) / (hi - lo), 0.0, 1.0).astype(np.float32)
    return out


def first_value(value: Any) -> float | None:
    """The first of a possibly multi-valued DS element, or None when absent/empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str | bytes | int | float):
        return float(value)
    values = list(value)
    return float(values[0]) if values else None


def to_display(ds: Any, stored: Array, warnings: list[str]) -> Array:
    """A DICOM image's stored values -> [0, 1] with air dark (MONOCHROME2 convention)."""
    if "ModalityLUTSequence" in ds:
        from pydicom.pixels import apply_modality_lut

        values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)
    else:
        slope = first_value(ds.get("RescaleSlope")) or 1.0
        intercept = first_value(ds.get("RescaleIntercept")) or 0.0
        values = modality_lut(stored, slope, intercept)
    center = first_value(ds.get("WindowCenter"))
    width = first_value(ds.get("WindowWidth"))
    if center is not None and width is not None and width > 0:
        unit = voi_window(values, center, width)
    else:
        warnings.append(Warn.NO_VOI_WINDOW)
        unit = percentile_window(values)
    inverse = ds.get("PresentationLUTShape", "") == "INVERSE"
    if ds.get("PhotometricInterpretation") == "MONOCHROME1" or inverse:
        unit = 1.0 - unit
    return unit


def square(image: Array, size: int, aspect: float = 1.0) -> Array:
    """Resize keeping the aspect ratio (``aspect`` = row spacing / column spacing) and pad
    to ``size x size`` with 0, centred."""
    rows, cols = image.shape
    height, width = rows * aspect, float(cols)
    scale = size / max(height, width)
    new_h = max(1, min(size, round(height * scale)))
    new_w = max(1, min(size, round(width * scale)))
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32), mode="F").resize(
        (new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0
    )
    out = np.zeros((size, size), dtype=np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.asarray(resized)
    return out


def to_uint8(unit: Array) -> Array:
    out: Array = np.round(np.clip(unit, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out
