"""Content gates: modality, body part, SOP class, photometric, burned-in text, duplicates."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
    generate_uid,
)

from datasite.ingest import pipeline, report
from datasite.ingest.decode import FileOptions, process_file
from datasite.ingest.gates import GateOptions
from datasite.ingest.labels import read_labels
from datasite.ingest.records import BurnedInPolicy, RejectReason, Status
from datasite.synth import SynthConfig, generate_site, preset

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KEY = b"unit-test-site-key-0123456789abc"
US_SOP = "1.2.840.10008.5.1.4.1.1.6.1"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"
SC_SOP = "1.2.840.10008.5.1.4.1.1.7"


@pytest.fixture(scope="module")
def radiograph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gates") / "site"
    generate_site(SynthConfig(out, "gate", n=1, seed=2, shift=preset("ge-dx"), rows=48))
    return next(p for p in out.rglob("IM*") if p.is_file())


def variant(source: Path, tmp_path: Path, change: Callable[[Dataset], None]) -> Path:
    ds = pydicom.dcmread(source)
    change(ds)
    out = tmp_path / "variant.dcm"
    ds.save_as(out)
    return out


def reason(path: Path, **gates: object) -> RejectReason | None:
    options = FileOptions(size=16, key=KEY, gates=GateOptions(**gates))  # type: ignore[arg-type]
    return process_file((str(path), path.name), options).reason


def setter(**elements: object) -> Callable[[Dataset], None]:
    def change(ds: Dataset) -> None:
        for keyword, value in elements.items():
            setattr(ds, keyword, value)

    return change


US = frozenset({"US"})
CR = frozenset({"CR"})


@pytest.mark.parametrize(
    ("elements", "gates", "expected"),
    [
        pytest.param({}, {}, None, id="dx-default"),
        pytest.param(
            {"Modality": "CT", "SOPClassUID": CT_SOP},
            {},
            RejectReason.MODALITY_NOT_REQUESTED,
            id="ct-not-asked",
        ),
        pytest.param(
            {"Modality": "CR", "SOPClassUID": CT_SOP},
            {},
            RejectReason.SOP_CLASS_MISMATCH,
            id="ct-class-says-cr",
        ),
        pytest.param(
            {"Modality": "CR", "SOPClassUID": SC_SOP},
            {},
            RejectReason.TEXT_BEARING_MODALITY,
            id="secondary-capture",
        ),
        pytest.param(
            {"Modality": "US", "SOPClassUID": US_SOP},
            {},
            RejectReason.MODALITY_NOT_REQUESTED,
            id="us-not-asked",
        ),
        pytest.param(
            {"Modality": "US", "SOPClassUID": US_SOP},
            {"modalities": US},
            RejectReason.TEXT_BEARING_MODALITY,
            id="us-asked-flag-no",
        ),
        pytest.param(
            {"Modality": "US", "SOPClassUID": US_SOP},
            {"modalities": US, "burned_in": BurnedInPolicy.TRUST_HEADER},
            None,
            id="us-asked-flag-trusted",
        ),
        pytest.param(
            {"BurnedInAnnotation": "YES"},
            {"burned_in": BurnedInPolicy.TRUST_HEADER},
            RejectReason.BURNED_IN_ANNOTATION,
            id="flag-yes",
        ),
        pytest.param(
            {"BodyPartExamined": "HAND"},
            {"body_parts": frozenset({"CHEST"})},
            RejectReason.BODY_PART_NOT_REQUESTED,
            id="body-part",
        ),
        pytest.param({}, {"body_parts": frozenset({"CHEST"})}, None, id="body-part-ok"),
        pytest.param({"BitsStored": 17}, {}, RejectReason.INCONSISTENT_PIXEL_HEADER, id="bits"),
        pytest.param(
            {"PhotometricInterpretation": "RGB"}, {}, RejectReason.UNSUPPORTED_PHOTOMETRIC, id="rgb"
        ),
    ],
)
def test_gate(
    radiograph: Path, tmp_path: Path, elements: dict[str, object], gates: dict[str, object],
    expected: RejectReason | None,
) -> None:  # fmt: skip
    path = variant(radiograph, tmp_path, setter(**elements))

    assert reason(path, **gates) == expected


def test_a_missing_burned_in_flag_is_refused_unless_allowed(
    radiograph: Path, tmp_path: Path
) -> None:
    path = variant(radiograph, tmp_path, lambda ds: delattr(ds, "BurnedInAnnotation"))

    assert reason(path) == RejectReason.BURNED_IN_UNKNOWN
    assert reason(path, burned_in=BurnedInPolicy.ALLOW_MISSING) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("CT_small.dcm", RejectReason.MODALITY_NOT_REQUESTED, id="ct"),
        pytest.param("MR_small.dcm", RejectReason.MODALITY_NOT_REQUESTED, id="mr"),
        pytest.param("examples_ybr_color.dcm", RejectReason.MODALITY_NOT_REQUESTED, id="us"),
        pytest.param("JPEG2000.dcm", RejectReason.MODALITY_NOT_REQUESTED, id="nm-sc"),
        pytest.param("dicomdirtests/77654033/CR1/6154", RejectReason.BURNED_IN_UNKNOWN, id="cr"),
    ],
)
def test_real_files_of_other_modalities_stay_out_by_default(
    name: str, expected: RejectReason
) -> None:
    assert reason(PYDICOM_FILES / name) == expected


def test_a_real_burned_in_ultrasound_is_refused_even_when_asked_for(tmp_path: Path) -> None:
    path = variant(PYDICOM_FILES / "examples_ybr_color.dcm", tmp_path, setter(
        BurnedInAnnotation="NO", NumberOfFrames=1))  # fmt: skip

    assert reason(path, modalities=US) == RejectReason.TEXT_BEARING_MODALITY


def test_the_same_image_in_four_encodings_is_accepted_once(
    radiograph: Path, tmp_path: Path
) -> None:
    rows = [["file", "label"]]
    for syntax in (ExplicitVRLittleEndian, RLELossless, JPEG2000Lossless,
                   DeflatedExplicitVRLittleEndian):  # fmt: skip
        copy = pydicom.dcmread(radiograph)
        if copy.file_meta.TransferSyntaxUID.is_encapsulated:
            copy.decompress()
        copy.SOPInstanceUID = generate_uid()
        if syntax.is_compressed and not syntax.is_deflated:
            copy.compress(syntax, generate_instance_uid=False)
        else:
            copy.file_meta.TransferSyntaxUID = syntax
        copy.save_as(tmp_path / f"{syntax.name[:12]}.dcm")
        rows.append([f"{syntax.name[:12]}.dcm", "0"])
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)

    result = pipeline.process(tmp_path, read_labels(tmp_path / "labels.csv"), KEY,
                              pipeline.IngestOptions(size=16, val_fraction=0))  # fmt: skip

    reasons = sorted(str(r.reason) for r in result.records if r.file.endswith(".dcm"))
    assert reasons == ["", "duplicate_pixels", "duplicate_pixels", "duplicate_pixels"]


def test_the_description_is_generated_from_what_was_ingested(tmp_path: Path) -> None:
    generate_site(SynthConfig(tmp_path, "d", n=8, seed=4, shift=preset("fuji-cr"), rows=48))

    result = pipeline.process(tmp_path, read_labels(tmp_path / "labels.csv"), KEY,
                              pipeline.IngestOptions(size=16, val_fraction=0.25))  # fmt: skip
    text = report.describe(report.summary(result), 16)

    accepted = result.count(Status.ACCEPTED)
    assert f"modality: CR {accepted}; body part: CHEST {accepted}." in text
    assert f"{len(result.train.labels)} train + {len(result.val.labels)} validation" in text  # type: ignore[union-attr]
    assert "16x16 px" in text and "48-48 rows" in text
