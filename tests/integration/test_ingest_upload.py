"""``datasite ingest`` against a real datasite over HTTP: what the researcher then sees."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydicom
import pytest

from datasite.synth import SynthConfig, generate_site, preset
from fedcommon.schema import IMAGE_DTYPE, LABEL_DTYPE, METADATA_COLUMNS, AssetName
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, add_user, run_cli

pytestmark = pytest.mark.integration
RESEARCHER = "reader@research.example"
PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def researcher_view(url: str, name: str) -> dict[str, Any]:
    from datasite.syftio.client import login

    client = login(url, RESEARCHER, RESEARCHER_PASSWORD)
    dataset = client.datasets[name]
    with contextlib.redirect_stdout(io.StringIO()):
        mocks = {str(asset.name): asset.mock for asset in dataset.assets}
        private = {str(asset.name): asset.data for asset in dataset.assets}
    text = getattr(dataset.description, "text", dataset.description)  # a MarkdownDescription
    return {"mock": mocks, "private": private, "description": str(text)}


def uploaded_private(url: str, name: str) -> dict[str, Any]:
    from datasite.syftio.client import admin_login

    dataset = admin_login(url, ADMIN).datasets[name]
    with contextlib.redirect_stdout(io.StringIO()):
        return {str(asset.name): asset.data for asset in dataset.assets}


def all_strings(value: Any) -> list[str]:
    if hasattr(value, "columns"):
        return [str(c) for c in value.columns] + [str(v) for v in value.to_numpy().ravel()]
    return []


def test_ingest_over_http_uploads_deidentified_assets_with_mock_twins_once(
    sites: SiteFactory, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    generate_site(SynthConfig(source, "west", n=40, seed=11, shift=preset("balanced"), rows=96))
    (source / "broken.dcm").write_bytes(b"\x00" * 200)
    with (source / "labels.csv").open("a") as labels:
        labels.write("broken.dcm,1,opacity\n")
    site = sites.start("west")
    add_user(site.url, RESEARCHER)

    args = [
        "ingest",
        str(source),
        "--url",
        site.url,
        "--labels",
        str(source / "labels.csv"),
        "--dataset",
        "west-cxr",
        "--size",
        "64",
        "--key-file",
        str(tmp_path / "site.key"),
    ]

    done = run_cli(*args, "--verify", "--format", "json", "--report-dir", str(tmp_path / "rep"))
    again = run_cli(*args)

    assert done.returncode == 10, done.stderr  # uploaded, but broken.dcm was rejected
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["accepted"] == 40 and summary["rejected_by_reason"] == {"unreadable": 1}
    assert summary["verify"]["passed"] is True
    view = researcher_view(site.url, "west-cxr")
    mock, train_n = view["mock"], summary["train"]
    assert set(mock) == {str(a) for a in AssetName}
    assert mock["images"].shape == (train_n, 1, 64, 64) and mock["images"].dtype == IMAGE_DTYPE
    assert mock["labels"].dtype == LABEL_DTYPE and len(mock["val_labels"]) == summary["val"]
    assert tuple(mock["metadata"].columns) == METADATA_COLUMNS
    assert all(v is None for v in view["private"].values())  # a researcher gets mock only
    private = uploaded_private(site.url, "west-cxr")
    assert np.bincount(private["labels"]).tolist() == np.bincount(mock["labels"]).tolist()
    for name in ("images", "val_images"):
        reals, twins = private[name], mock[name]
        assert not any((reals == twin).all(axis=(1, 2, 3)).any() for twin in twins)
    phi = [v for v in json.loads((source / "phi_values.json").read_text()) if len(v) >= 4]
    uploaded = [view["description"], "west-cxr", *[str(a) for a in AssetName]]
    for frame in (*mock.values(), *private.values()):
        uploaded += all_strings(frame)
    assert [v for v in phi if any(v.casefold() in s.casefold() for s in uploaded)] == []
    assert (tmp_path / "rep" / "ingest-report.csv").exists()
    assert again.returncode == 12 and "A dataset named 'west-cxr' already exists" in again.stderr


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Orthanc PACS on loopback: scripts/services' one, or one started here."""
    from lab.orthanc import OrthancProcess, binary

    if os.environ.get("TEST_ORTHANC_URL"):
        yield os.environ["TEST_ORTHANC_URL"]
        return
    if binary() is None:
        if os.environ.get("REQUIRE_ORTHANC"):
            pytest.fail(
                "REQUIRE_ORTHANC is set but Orthanc is not installed: run the tests through "
                "./scripts/test (as root it installs orthanc + orthanc-dicomweb)."
            )
        pytest.skip("no Orthanc: apt-get install orthanc orthanc-dicomweb, or ./scripts/test")
    server = OrthancProcess(tmp_path_factory.mktemp("orthanc"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def upload_to_pacs(pacs: str, files: list[Path]) -> None:
    """Store files in Orthanc through its REST API, as a modality would."""
    for path in files:
        response = httpx.post(f"{pacs}/instances", content=path.read_bytes(), timeout=30)
        assert response.status_code == 200, response.text


def study_labels(source: Path, extra: dict[Path, int], out: Path) -> Path:
    """Labels keyed by StudyInstanceUID: the generator's labels plus ``extra`` files."""
    by_file = {
        row["file"]: int(row["label"]) for row in csv.DictReader((source / "labels.csv").open())
    }
    rows = {str(pydicom.dcmread(source / f).StudyInstanceUID): y for f, y in by_file.items()}
    rows |= {str(pydicom.dcmread(p).StudyInstanceUID): y for p, y in extra.items()}
    out.write_text("# classes: normal,opacity\nStudyInstanceUID,label\n"
                   + "".join(f"{uid},{y}\n" for uid, y in sorted(rows.items())))  # fmt: skip
    return out


def test_ingest_from_a_pacs_over_dicomweb_gates_verifies_and_resumes(
    sites: SiteFactory, orthanc: str, tmp_path: Path
) -> None:
    source = tmp_path / "modality"
    generate_site(SynthConfig(source, "pacs", n=10, seed=21, shift=preset("balanced"), rows=64,
                              repeat_fraction=0.0))  # fmt: skip
    ct = PYDICOM_FILES / "CT_small.dcm"
    upload_to_pacs(orthanc, [*sorted(source.rglob("IM*")), ct])
    labels = study_labels(source, {ct: 0}, tmp_path / "labels.csv")
    site = sites.start("pacs")
    add_user(site.url, RESEARCHER)
    cache = tmp_path / "cache"
    args = ["ingest", "--dicomweb", f"{orthanc}/dicom-web", "--url", site.url, "--labels",
            str(labels), "--cache-dir", str(cache), "--size", "32", "--key-file",
            str(tmp_path / "site.key"), "--verify", "--format", "json"]  # fmt: skip

    first = run_cli(*args, "--dataset", "pacs-cxr")
    next(cache.rglob("*.dcm")).unlink()  # as if the first run had been cut short
    second = run_cli(*args, "--dataset", "pacs-cxr-2")

    assert first.returncode == 10, first.stderr  # uploaded; the CT study was refused
    one = json.loads(first.stdout.strip().splitlines()[-1])
    assert one["accepted"] == 10 and one["rejected_by_reason"] == {"modality_not_requested": 1}
    assert one["verify"]["passed"] is True and one["dicomweb"]["fetched"] == 11
    two = json.loads(second.stdout.strip().splitlines()[-1])
    assert two["dicomweb"] == {**two["dicomweb"], "fetched": 1, "from_cache": 10}
    assert two["accepted"] == 10, second.stderr
    view = researcher_view(site.url, "pacs-cxr")
    assert len(view["mock"]["labels"]) + len(view["mock"]["val_labels"]) == 10
    assert view["description"].startswith("De-identified images by modality: ")
    assert "10 train" not in view["description"] and "CT" not in view["description"]
    assert "Traceback" not in first.stderr + second.stderr
