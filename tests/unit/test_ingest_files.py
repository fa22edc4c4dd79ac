"""Reading every kind of file a PACS export holds: accepted, or rejected with a reason."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from datasite.ingest import pipeline
from datasite.ingest.decode import FileOptions, process_file
from datasite.ingest.gates import GateOptions
from datasite.ingest.labels import read_labels
from datasite.ingest.records import BurnedInPolicy, NothingAcceptedError, RejectReason, Status
from datasite.synth import SynthConfig, generate_site, preset

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
# Decoding is tested with every modality asked for and the burned-in flag trusted.
OPEN = GateOptions(
    modalities=frozenset({"CR", "DX", "CT", "MR", "US", "NM", "OT"}),
    burned_in=BurnedInPolicy.ALLOW_MISSING,
)
OPTIONS = FileOptions(size=32, key=b"k" * 32, gates=OPEN)
KEY = b"unit-test-site-key-0123456789abc"


TRUSTING = FileOptions(size=32, key=b"k" * 32, gates=GateOptions(
    modalities=OPEN.modalities, burned_in=BurnedInPolicy.TRUST_HEADER))  # fmt: skip


def outcome(name: str) -> RejectReason | None:
    result = process_file((str(PYDICOM_FILES / name), name), OPTIONS)
    return result.reason


def trusted_outcome(name: str, tmp: Path) -> RejectReason | None:
    """A secondary capture re-saved with BurnedInAnnotation NO, its flag trusted."""
    ds = pydicom.dcmread(PYDICOM_FILES / name)
    ds.BurnedInAnnotation = "NO"
    ds.save_as(tmp / name)
    return process_file((str(tmp / name), name), TRUSTING).reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("CT_small.dcm", None, id="ct-explicit-le"),
        pytest.param("MR_small_RLE.dcm", None, id="rle"),
        pytest.param("MR_small_jp2klossless.dcm", None, id="jpeg2000-lossless"),
        pytest.param("MR_small_jpeg_ls_lossless.dcm", None, id="jpeg-ls"),
        pytest.param("MR_small_bigendian.dcm", None, id="big-endian"),
        pytest.param("image_dfl.dcm", RejectReason.TEXT_BEARING_MODALITY, id="deflated-sc"),
        pytest.param("JPGExtended.dcm", RejectReason.TEXT_BEARING_MODALITY, id="jpeg-ext-sc"),
        pytest.param("MR_truncated.dcm", RejectReason.TRUNCATED, id="truncated-pixels"),
        pytest.param("reportsi.dcm", RejectReason.NON_IMAGE_SOP_CLASS, id="structured-report"),
        pytest.param("rtplan.dcm", RejectReason.NON_IMAGE_SOP_CLASS, id="rt-plan"),
        pytest.param("waveform_ecg.dcm", RejectReason.NON_IMAGE_SOP_CLASS, id="ecg"),
        pytest.param("liver_1frame.dcm", RejectReason.NON_IMAGE_SOP_CLASS, id="segmentation"),
        pytest.param("no_meta.dcm", RejectReason.UNREADABLE, id="no-file-meta"),
        pytest.param("README.txt", RejectReason.UNREADABLE, id="text-file"),
    ],
)
def test_pydicom_test_file(name: str, expected: RejectReason | None) -> None:
    assert outcome(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("image_dfl.dcm", None, id="deflated"),
        pytest.param("JPGExtended.dcm", None, id="jpeg-extended"),
        pytest.param("JPEG-lossy.dcm", RejectReason.DECODE_FAILED, id="broken-jpeg"),
        pytest.param("examples_rgb_color.dcm", RejectReason.UNSUPPORTED_PHOTOMETRIC, id="rgb"),
        pytest.param("examples_palette.dcm", RejectReason.UNSUPPORTED_PHOTOMETRIC, id="palette"),
        pytest.param("examples_ybr_color.dcm", RejectReason.MULTI_FRAME, id="multi-frame"),
    ],
)
def test_text_bearing_files_are_checked_further_when_their_flag_is_trusted(
    name: str, expected: RejectReason | None, tmp_path: Path
) -> None:
    assert trusted_outcome(name, tmp_path) == expected


def test_every_pydicom_test_file_gets_a_result_and_none_crashes() -> None:
    files = sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file())

    results = [process_file((str(p), p.name), OPTIONS) for p in files]

    accepted = [r for r in results if r.reason is None]
    assert len(results) == len(files) > 100
    assert len(accepted) >= 40
    assert all(r.reason is None or r.detail for r in results)  # every rejection says why
    assert all(r.image is not None and r.image.shape == (32, 32) for r in accepted)


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    """A small generated export plus the trouble a real one contains."""
    out = tmp_path / "export"
    generate_site(
        SynthConfig(out=out, site="south", n=12, seed=5, shift=preset("agfa-cr"), rows=64)
    )
    files = sorted(p for p in out.rglob("IM*") if p.is_file())
    (out / "broken").mkdir()
    data = files[0].read_bytes()
    (out / "broken" / "cut.dcm").write_bytes(data[: len(data) - 3000])
    (out / "broken" / "junk.dcm").write_bytes(b"\x00not dicom at all" * 10)
    (out / "zz").mkdir()
    shutil.copy(files[1], out / "zz" / "copy.dcm")  # sorts after its original
    burned = pydicom.dcmread(files[2])
    burned.BurnedInAnnotation = "YES"
    burned.SOPInstanceUID = "1.2.3.4"
    burned.save_as(out / "broken" / "burned.dcm")
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8), (48, 1))).save(out / "plain.png")
    shutil.copy(out / "plain.png", out / "plain2.png")
    (out / "unlabelled.png").write_bytes((out / "plain.png").read_bytes()[:-1] + b"\x01")
    rows = list(csv.reader((out / "labels.csv").open()))[1:]
    extra = ["broken/cut.dcm", "broken/junk.dcm", "zz/copy.dcm", "broken/burned.dcm"]
    extra += ["plain.png", "plain2.png", "missing-on-disk.dcm"]
    with (out / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows([["file", "label"], *[r[:2] for r in rows]])
        csv.writer(handle).writerows([[name, "1"] for name in extra])
    return out


def run(export: Path, **options: object) -> pipeline.IngestResult:
    labels = read_labels(export / "labels.csv")
    options = {"gates": OPEN, **options}
    return pipeline.process(export, labels, KEY, pipeline.IngestOptions(size=32, **options))  # type: ignore[arg-type]


def test_bad_files_are_reported_and_good_ones_kept(export: Path) -> None:
    result = run(export, val_fraction=0.25)

    by_file = {r.file: r for r in result.records}
    assert by_file["broken/cut.dcm"].reason == RejectReason.TRUNCATED
    assert by_file["broken/junk.dcm"].reason == RejectReason.UNREADABLE
    assert by_file["zz/copy.dcm"].reason == RejectReason.DUPLICATE_SOP_INSTANCE
    assert by_file["broken/burned.dcm"].reason == RejectReason.BURNED_IN_ANNOTATION
    assert by_file["plain2.png"].reason == RejectReason.DUPLICATE_PIXELS
    assert by_file["unlabelled.png"].reason == RejectReason.MISSING_LABEL
    assert by_file["labels.csv"].status is Status.SKIPPED
    assert by_file["plain.png"].status is Status.ACCEPTED
    assert result.labels_without_file == ["missing-on-disk.dcm"]
    assert result.count(Status.ACCEPTED) == 12 + 1  # the 12 generated files and plain.png


def test_every_file_under_the_source_appears_in_the_report_once(export: Path) -> None:
    result = run(export)

    on_disk = sorted(str(p.relative_to(export)) for p in export.rglob("*") if p.is_file())
    assert sorted(r.file for r in result.records) == on_disk


def test_accepted_arrays_follow_the_asset_schema(export: Path) -> None:
    result = run(export, val_fraction=0.25)

    total = len(result.train.labels) + len(result.val.labels)  # type: ignore[union-attr]
    assert total == result.count(Status.ACCEPTED)
    assert result.train.images.shape[1:] == (1, 32, 32)
    assert result.train.images.dtype == np.uint8 and result.train.labels.dtype == np.int64
    assert result.val is not None and len(result.val.labels) >= 1


def test_validation_split_never_separates_a_patients_images(tmp_path: Path) -> None:
    generate_site(SynthConfig(tmp_path, "x", n=40, seed=1, shift=preset("ge-dx"), rows=48,
                              repeat_fraction=0.5))  # fmt: skip

    result = pipeline.process(tmp_path, read_labels(tmp_path / "labels.csv"), KEY,
                              pipeline.IngestOptions(size=16, val_fraction=0.3))  # fmt: skip

    assert result.val is not None
    train_keys = set(result.train.metadata["patient_key"])
    val_keys = set(result.val.metadata["patient_key"])
    assert train_keys.isdisjoint(val_keys)
    assert len(result.val.labels) == pytest.approx(12, abs=2)


def test_two_workers_give_the_same_result_as_one(export: Path) -> None:
    one, two = run(export, workers=1, mock_seed=1), run(export, workers=2, mock_seed=1)

    np.testing.assert_array_equal(one.train.images, two.train.images)
    assert [r.row() for r in one.records] == [r.row() for r in two.records]


def test_nothing_accepted_is_an_error_carrying_every_record(tmp_path: Path) -> None:
    (tmp_path / "a.dcm").write_bytes(b"junk")
    (tmp_path / "labels.csv").write_text("file,label\na.dcm,0\n")

    with pytest.raises(NothingAcceptedError, match=r"No file under .* was accepted") as caught:
        run(tmp_path)

    assert [(r.file, r.reason) for r in caught.value.records] == [
        ("a.dcm", RejectReason.UNREADABLE),
        ("labels.csv", "not_an_image_file"),
    ]
