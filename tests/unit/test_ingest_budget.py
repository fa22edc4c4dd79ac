"""The decode budget: checked from the header before anything is inflated or decoded."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from datasite.ingest.decode import FileOptions, process_file
from datasite.ingest.gates import GateOptions
from datasite.ingest.records import BurnedInPolicy, RejectReason
from datasite.synth.hostile import deflated_bomb

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
OPTIONS = FileOptions(size=16, key=b"k" * 32)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """400 MB of pixels (20000 x 20000, 8 bit) deflated into a file of about 390 KB."""
    return deflated_bomb(tmp_path_factory.mktemp("bomb") / "bomb.dcm")


def test_a_deflated_20000_square_file_is_too_large_without_being_inflated(bomb: Path) -> None:
    tracemalloc.start()
    try:
        result = process_file((str(bomb), "bomb.dcm"), OPTIONS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert bomb.stat().st_size < 1_000_000
    assert result.reason == RejectReason.TOO_LARGE
    assert "20000 x 20000" in result.detail and "--max-pixels" in result.detail
    assert peak < 20_000_000  # bytes allocated in Python while reading it: a header's worth


def test_a_deflated_file_within_budget_is_decoded(tmp_path: Path) -> None:
    path = deflated_bomb(tmp_path / "small.dcm", rows=300, columns=200)

    result = process_file((str(path), "small.dcm"), OPTIONS)

    assert result.reason is None and result.image is not None


def test_a_deflated_file_that_inflates_beyond_its_header_is_too_large(tmp_path: Path) -> None:
    path = deflated_bomb(tmp_path / "liar.dcm", rows=300, columns=200, hidden=4 << 20)

    result = process_file((str(path), "liar.dcm"), OPTIONS)

    assert (result.reason, result.detail) == (
        RejectReason.TOO_LARGE, "inflates beyond the size its header declares"
    )  # fmt: skip


def test_max_pixels_is_what_the_admin_sets(tmp_path: Path) -> None:
    path = deflated_bomb(tmp_path / "small.dcm", rows=300, columns=200)
    tight = FileOptions(size=16, key=b"k" * 32, max_pixels=50_000)

    assert process_file((str(path), "small.dcm"), tight).reason == RejectReason.TOO_LARGE


def test_a_compressed_frame_larger_than_its_header_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    ds = pydicom.dcmread(PYDICOM_FILES / "MR_small_jp2klossless.dcm")
    ds.Rows = ds.Columns = 32  # the JPEG 2000 codestream still says 64 x 64
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp_path / "lying.dcm")
    trusting = FileOptions(size=16, key=b"k" * 32, gates=GateOptions(modalities=frozenset({"MR"})))

    result = process_file((str(tmp_path / "lying.dcm"), "lying.dcm"), trusting)

    assert result.reason == RejectReason.INCONSISTENT_PIXEL_HEADER
    assert result.detail == "compressed frame is 64 x 64, header says 32 x 32"


def test_a_huge_plain_image_is_sized_before_it_is_loaded(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((300, 400), dtype=np.uint8)).save(tmp_path / "big.png")
    options = FileOptions(
        size=16, key=b"k" * 32, max_pixels=100_000,
        gates=GateOptions(modalities=frozenset({"OT"}), burned_in=BurnedInPolicy.ALLOW_MISSING),
    )  # fmt: skip

    result = process_file((str(tmp_path / "big.png"), "big.png"), options)

    assert (result.reason, result.detail) == (
        RejectReason.TOO_LARGE,
        "400 x 300 > --max-pixels 100,000",
    )
