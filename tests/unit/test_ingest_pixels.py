"""Pixel handling: modality LUT, VOI window, MONOCHROME1, aspect-preserving square resize."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from datasite.ingest.pixels import (
    modality_lut,
    percentile_window,
    square,
    to_display,
    to_uint8,
    voi_window,
)
from datasite.ingest.records import Warn


def header(**elements: object) -> Dataset:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


RAMP = np.arange(0, 1000, dtype=np.uint16).reshape(10, 100)


def test_rescale_slope_and_intercept_apply_before_windowing() -> None:
    values = modality_lut(np.array([0, 10, 100], dtype=np.uint16), slope=0.684, intercept=200)

    assert values.tolist() == pytest.approx([200.0, 206.84, 268.4])


def test_voi_window_maps_center_to_mid_grey_and_clips_outside() -> None:
    out = voi_window(np.array([0.0, 400.0, 500.0, 600.0, 1000.0]), center=500, width=200)

    assert out[0] == 0.0 and out[-1] == 1.0
    assert out[2] == pytest.approx(0.5, abs=0.01)
    assert out[1] == pytest.approx(0.0, abs=0.01) and out[3] == pytest.approx(1.0, abs=0.01)


def test_monochrome1_is_inverted_so_air_stays_dark() -> None:
    mono2 = to_display(header(WindowCenter=500, WindowWidth=1000), RAMP, [])
    mono1 = to_display(
        header(PhotometricInterpretation="MONOCHROME1", WindowCenter=500, WindowWidth=1000),
        RAMP,
        [],
    )

    np.testing.assert_allclose(mono1, 1.0 - mono2, atol=1e-6)
    assert mono1[0, 0] == pytest.approx(1.0, abs=0.01)


def test_rescale_moves_the_window_into_modality_units() -> None:
    plain = to_display(header(WindowCenter=700, WindowWidth=400), RAMP, [])
    shifted = to_display(
        header(WindowCenter=700, WindowWidth=400, RescaleSlope=1, RescaleIntercept=200), RAMP, []
    )

    assert shifted[0, 50] == pytest.approx(0.0, abs=0.01)  # stored 50 -> 250, below the window
    assert (shifted >= plain).all() and (shifted > plain).any()


def test_multi_valued_window_uses_the_first_pair() -> None:
    first_only = to_display(header(WindowCenter=300, WindowWidth=200), RAMP, [])
    multi = to_display(header(WindowCenter=[300, 500], WindowWidth=[200, 900]), RAMP, [])

    np.testing.assert_array_equal(multi, first_only)


def test_missing_window_falls_back_to_percentiles_with_a_warning() -> None:
    warnings: list[str] = []

    out = to_display(header(), RAMP, warnings)

    assert warnings == [Warn.NO_VOI_WINDOW]
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_allclose(out, percentile_window(RAMP.astype(np.float32)))


def test_square_keeps_aspect_and_pads_with_black() -> None:
    tall = np.ones((200, 100), dtype=np.float32)

    out = square(tall, 64)

    assert out.shape == (64, 64)
    assert out[:, :16].max() == 0.0 and out[:, 48:].max() == 0.0
    assert out[:, 17:47].min() == pytest.approx(1.0)


def test_square_uses_physical_aspect_for_anisotropic_spacing() -> None:
    image = np.ones((100, 100), dtype=np.float32)

    out = square(image, 64, aspect=0.5)  # rows half as far apart as columns: wide image

    filled_rows = np.flatnonzero(out.max(axis=1) > 0)
    assert len(filled_rows) == 32


def test_to_uint8_rounds_and_clips() -> None:
    out = to_uint8(np.array([-0.2, 0.0, 0.5, 1.0, 1.3], dtype=np.float32))

    assert out.dtype == np.uint8
    assert out.tolist() == [0, 0, 128, 255, 255]
