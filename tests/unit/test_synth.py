"""``datasite synth``: seeded, realistic chest radiograph exports with fake PHI everywhere."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from typer.testing import CliRunner

from datasite.cli.app import app
from datasite.errors import ConfigError
from datasite.synth import PRESETS, SynthConfig, generate_site, preset
from datasite.synth.header import PRIVATE_CREATOR, PRIVATE_GROUP


def make_site(out: Path, n: int = 24, seed: int = 3, shift: str = "balanced") -> Path:
    generate_site(SynthConfig(out=out, site="north", n=n, seed=seed, shift=preset(shift), rows=96))
    return out


def dicom_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("IM*") if p.is_file())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("synth") / "north", n=40)


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    first = make_site(tmp_path / "a", n=6)
    second = make_site(tmp_path / "b", n=6)

    assert [p.read_bytes() for p in dicom_files(first)] == [
        p.read_bytes() for p in dicom_files(second)
    ]


def test_another_seed_writes_other_images(tmp_path: Path) -> None:
    first = dicom_files(make_site(tmp_path / "a", n=2, seed=1))[0]
    other = dicom_files(make_site(tmp_path / "b", n=2, seed=2))[0]

    assert not np.array_equal(
        pydicom.dcmread(first).pixel_array, pydicom.dcmread(other).pixel_array
    )


def test_headers_look_like_chest_radiograph_exports(site: Path) -> None:
    headers = [pydicom.dcmread(p) for p in dicom_files(site)]

    assert {h.Modality for h in headers} == {"CR", "DX"}
    assert {h.PhotometricInterpretation for h in headers} == {"MONOCHROME1", "MONOCHROME2"}
    assert {int(h.BitsStored) for h in headers} == {10, 12, 15}
    assert all(h.HighBit == h.BitsStored - 1 and h.BitsAllocated == 16 for h in headers)
    syntaxes = {h.file_meta.TransferSyntaxUID.name for h in headers}
    assert {"RLE Lossless", "JPEG 2000 Image Compression (Lossless Only)"} <= syntaxes
    assert all(h.BodyPartExamined == "CHEST" and h.ViewPosition in ("PA", "AP") for h in headers)
    assert any("WindowCenter" not in h for h in headers) and any(
        "WindowCenter" in h for h in headers
    )


def test_every_file_decodes_to_its_declared_size(site: Path) -> None:
    for path in dicom_files(site):
        ds = pydicom.dcmread(path)

        assert ds.pixel_array.shape == (ds.Rows, ds.Columns)
        assert ds.pixel_array.max() <= 2**ds.BitsStored - 1


def test_fake_phi_sits_where_real_exports_carry_it(site: Path) -> None:
    ds = pydicom.dcmread(dicom_files(site)[0])

    assert str(ds.PatientName).count("^") == 2
    assert ds.OtherPatientIDsSequence[0].PatientID
    assert ds.RequestAttributesSequence[0].RequestedProcedureDescription
    assert ds.ReferencedPatientSequence[0].ReferencedSOPInstanceUID
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    assert str(ds.PatientName).split("^")[0] in block[0x10].value
    assert ds.StudyInstanceUID.startswith("1.2.826.0.1.3680043.10.")


def test_names_include_non_ascii_letters(site: Path) -> None:
    names = [str(pydicom.dcmread(p).PatientName) for p in dicom_files(site)]

    assert any(not name.isascii() for name in names)


def _text(value: str | bytes) -> str:
    """Private values come back as bytes from implicit-VR files (VR UN)."""
    return value.decode("utf-8").strip("\x00 ") if isinstance(value, bytes) else value


def test_phi_values_json_lists_every_identifier_in_the_files(site: Path) -> None:
    written = set(json.loads((site / "phi_values.json").read_text()))

    for path in dicom_files(site):
        ds = pydicom.dcmread(path)
        block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
        values = [
            str(ds.PatientName), ds.PatientID, ds.PatientBirthDate, ds.PatientAddress,
            ds.AccessionNumber, ds.StudyID, ds.InstitutionName, str(ds.ReferringPhysicianName),
            str(ds.OperatorsName), ds.StationName, ds.DeviceSerialNumber, ds.StudyDescription,
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, ds.StudyDate,
            ds.OtherPatientIDsSequence[0].PatientID,
            ds.RequestAttributesSequence[0].RequestedProcedureDescription,
            ds.ReferencedPatientSequence[0].ReferencedSOPInstanceUID,
            *(_text(block[tag].value) for tag in (0x10, 0x11, 0x12)),
        ]  # fmt: skip
        assert set(values) <= written, path


def test_labels_csv_names_every_file_with_a_binary_label(site: Path) -> None:
    with (site / "labels.csv").open() as handle:
        rows = list(csv.DictReader(handle))

    assert [r["file"] for r in rows] == [str(p.relative_to(site)) for p in dicom_files(site)]
    assert {r["label"] for r in rows} == {"0", "1"}
    assert {r["label_name"] for r in rows} == {"normal", "opacity"}


def test_prevalence_follows_the_preset(tmp_path: Path) -> None:
    cfg = SynthConfig(
        tmp_path, "s", n=60, seed=0, shift=preset("balanced", prevalence=0.1), rows=48
    )

    made = generate_site(cfg)

    assert made.positives <= 15


def test_unknown_preset_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="--shift 'siemens' is unknown; choose one of: balanced"):
        preset("siemens")


def test_cli_writes_the_export(tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path), "--site", "x", "--n", "3", "--rows", "64"]

    result = CliRunner().invoke(app, [*args, "--shift", "fuji-cr"])

    assert result.exit_code == 0, result.output
    assert "Wrote 3 files" in result.output
    assert len(dicom_files(tmp_path)) == 3
    assert {pydicom.dcmread(p).Manufacturer for p in dicom_files(tmp_path)} == {
        PRESETS["fuji-cr"].manufacturer
    }
