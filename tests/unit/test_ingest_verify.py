"""Coded metadata and value-based --verify on pydicom's real files and crafted variants."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from datasite.ingest import pipeline
from datasite.ingest.deid import metadata_row, vendor
from datasite.ingest.gates import GateOptions
from datasite.ingest.labels import read_labels
from datasite.ingest.phi import phi_values
from datasite.ingest.records import BurnedInPolicy
from datasite.ingest.verify import block_message, uploaded_strings, verify

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
REAL_CR = sorted(PYDICOM_FILES.glob("dicomdirtests/*/CR*/*"))
KEY = b"unit-test-site-key-0123456789abc"
RADIOGRAPHS = GateOptions(burned_in=BurnedInPolicy.ALLOW_MISSING)  # real CR: no flag at all


@pytest.mark.parametrize(
    ("manufacturer", "expected"),
    [
        pytest.param("G.E. Medical Systems", "GE", id="ge-dotted"),
        pytest.param("GE Healthcare", "GE", id="ge"),
        pytest.param("Agfa-Gevaert AG", "Agfa", id="agfa"),
        pytest.param("Philips Medical Systems", "Philips", id="philips"),
        pytest.param("FUJIFILM Corporation", "Fujifilm", id="fuji"),
        pytest.param("St. Elsewhere General Hospital", "other", id="institution-as-vendor"),
        pytest.param("Gentle Imaging", "other", id="ge-prefix-is-not-ge"),
        pytest.param("", "", id="absent"),
    ],
)
def test_manufacturer_becomes_a_controlled_vendor(manufacturer: str, expected: str) -> None:
    assert vendor(manufacturer) == expected


def craft(tmp_path: Path, **elements: str) -> Path:
    """Real CR files from pydicom with header values replaced, plus a labels file."""
    out = tmp_path / "export"
    out.mkdir()
    rows = ["file,label"]
    for i, source in enumerate(REAL_CR):
        ds = pydicom.dcmread(source)
        for keyword, value in elements.items():
            setattr(ds, keyword, value)
        ds.PatientID = f"MRN{i:04d}"
        ds.save_as(out / f"cr{i}.dcm")
        rows.append(f"cr{i}.dcm,{i % 2}")
    (out / "labels.csv").write_text("\n".join(rows) + "\n")
    return out


def ingest(folder: Path) -> pipeline.IngestResult:
    options = pipeline.IngestOptions(size=16, collect_phi=True, gates=RADIOGRAPHS, mock_seed=1)
    return pipeline.process(folder, read_labels(folder / "labels.csv"), KEY, options)


def every_uploaded_text(result: pipeline.IngestResult) -> str:
    return " ".join(text for _, text in uploaded_strings("cr", "", pipeline.assets(result)))


@pytest.mark.parametrize(
    ("manufacturer", "institution"),
    [
        pytest.param("Mercy Imaging Partners", "Mercy Imaging Partners", id="equal"),
        pytest.param("Philips Medical Systems", "Philips Medical Systems Hospital", id="inside"),
    ],
)
def test_an_institution_in_manufacturer_never_reaches_the_upload_and_verify_passes(
    tmp_path: Path, manufacturer: str, institution: str
) -> None:
    folder = craft(tmp_path, Manufacturer=manufacturer, InstitutionName=institution)

    result = ingest(folder)
    checked = verify(
        result.phi, uploaded_strings("cr", "Spine radiographs", pipeline.assets(result))
    )

    assert len(REAL_CR) == 3 and len(result.train.labels) + len(result.val.labels) == 3  # type: ignore[union-attr]
    assert institution.casefold() not in every_uploaded_text(result).casefold()
    assert set(result.train.metadata["manufacturer"]) <= {"other", "Philips"}
    assert checked.passed, block_message(checked)


def test_a_patient_name_made_of_column_names_and_vendor_codes_is_no_false_positive(
    tmp_path: Path,
) -> None:
    folder = craft(tmp_path, PatientName="Label^Modality^CR", Manufacturer="GE Healthcare",
                   InstitutionName="GE Healthcare")  # fmt: skip

    result = ingest(folder)
    checked = verify(result.phi, uploaded_strings("cr", "", pipeline.assets(result)))

    assert checked.passed, block_message(checked)
    assert "PatientName (0010,0010)" in result.phi.values()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_every_real_file_with_pixels_verifies_clean_against_its_own_metadata() -> None:
    files = [p for p in sorted(PYDICOM_FILES.rglob("*")) if p.is_file()]
    false_positives = []
    for path in files:
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - broken test files are read elsewhere
            continue
        cells = [("metadata.x (private)", str(v)) for v in metadata_row(ds).values()]
        if not verify(phi_values(ds), cells).passed:
            false_positives.append(path.name)

    assert len(files) > 150 and false_positives == []


def test_a_blocked_upload_names_column_tag_and_what_to_do(tmp_path: Path) -> None:
    folder = craft(tmp_path, InstitutionName="Hôpital Fictif de Lyon")
    result = ingest(folder)
    uploaded = uploaded_strings(
        "cr-lyon", "Radiographs from Hôpital Fictif de Lyon", pipeline.assets(result)
    )

    message = block_message(verify(result.phi, uploaded))

    assert message == (
        "dataset description: a value from InstitutionName (0008,0080) (rewrite --description "
        "without it, or leave it out to use the generated description)"
    )


@pytest.mark.parametrize(
    ("text", "leaks"),
    [
        pytest.param("Seen by Dr Li's team", True, id="word"),
        pytest.param("Linear opacity", False, id="inside-a-word"),
        pytest.param("LI", True, id="case"),
    ],
)
def test_matching_is_by_whole_words(text: str, leaks: bool) -> None:
    checked = verify({"Li": "PatientName (0010,0010)"}, [("dataset description", text)])

    assert (not checked.passed) is leaks


def test_short_numbers_and_single_letters_are_not_searched_but_dates_are() -> None:
    phi = {"F": "PatientSex (0010,0040)", "70": "PatientWeight (0010,1030)",
           "20190304": "StudyDate (0008,0020)"}  # fmt: skip
    uploaded = [("dataset description", "F 70 images, acquired 20190304")]

    checked = verify(phi, uploaded)

    assert [leak.source for leak in checked.leaks] == ["StudyDate (0008,0020)"]
