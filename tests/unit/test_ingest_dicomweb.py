"""--dicomweb against an in-memory DICOMweb twin (httpx.MockTransport); Orthanc in integration."""

from __future__ import annotations

from pathlib import Path

import httpx
import pydicom
import pytest

from datasite.ingest.dicomweb import DicomWeb, first_part, pull
from datasite.ingest.labels import read_labels
from datasite.ingest.pipeline import IngestOptions
from datasite.ingest.records import PacsError, RejectReason, Status
from datasite.ingest.upload import IngestRequest, prepare
from datasite.synth import SynthConfig, generate_site, preset

KEY = b"unit-test-site-key-0123456789abc"
BOUNDARY = "b0undary"


class Pacs:
    """Answers QIDO-RS and WADO-RS from a folder of DICOM files, counting fetches."""

    def __init__(self, folder: Path) -> None:
        self.files = {}
        for path in sorted(folder.rglob("IM*")):
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            self.files[(ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)] = path
        self.fetches = 0
        self.fail_after: int | None = None
        self.missing: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")[1:]  # after "dicom-web"
        if parts == ["studies"]:
            return self._json([{"0020000D": {"vr": "UI", "Value": [s]}} for s, _, _ in self.files])
        if len(parts) == 3 and parts[2] == "instances":
            rows = [
                {"0020000E": {"vr": "UI", "Value": [se]}, "00080018": {"vr": "UI", "Value": [i]}}
                for s, se, i in self.files
                if s == parts[1]
            ]
            return self._json(rows)
        return self._wado(parts[1], parts[3], parts[5])

    def _json(self, rows: list[dict[str, object]]) -> httpx.Response:
        return httpx.Response(200, json=rows, headers={"content-type": "application/dicom+json"})

    def _wado(self, study: str, series: str, sop: str) -> httpx.Response:
        if self.fail_after is not None and self.fetches >= self.fail_after:
            raise httpx.ConnectError("connection reset")
        if sop in self.missing:
            return httpx.Response(404)
        self.fetches += 1
        data = self.files[(study, series, sop)].read_bytes()
        body = (f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + data
                + f"\r\n--{BOUNDARY}--\r\n".encode())  # fmt: skip
        kind = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
        return httpx.Response(200, content=body, headers={"content-type": kind})


@pytest.fixture()
def pacs(tmp_path: Path) -> Pacs:
    generate_site(SynthConfig(tmp_path / "src", "pacs", n=8, seed=6, shift=preset("fuji-cr"),
                              rows=48, repeat_fraction=0.0))  # fmt: skip
    return Pacs(tmp_path / "src")


def web(pacs: Pacs) -> DicomWeb:
    return DicomWeb(
        "http://pacs/dicom-web", client=httpx.Client(transport=httpx.MockTransport(pacs))
    )


def study_labels(pacs: Pacs, tmp_path: Path, skip: int = 0) -> Path:
    studies = sorted({s for s, _, _ in pacs.files})[skip:]
    path = tmp_path / "labels.csv"
    path.write_text(
        "StudyInstanceUID,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(studies))
    )
    return path


def test_first_part_of_a_multipart_answer_is_the_dicom_file() -> None:
    body = b"--xx\r\nContent-Type: application/dicom\r\n\r\nDICM\r\n--xx--\r\n"

    assert first_part(body, 'multipart/related; type="application/dicom"; boundary="xx"') == b"DICM"


def test_an_interrupted_pull_resumes_with_only_what_is_missing(pacs: Pacs, tmp_path: Path) -> None:
    labels = read_labels(study_labels(pacs, tmp_path))
    pacs.fail_after = 3

    with pytest.raises(PacsError, match="run the same command again to resume"):
        pull(web(pacs), labels, tmp_path / "cache")
    pacs.fail_after = None
    again = pull(web(pacs), labels, tmp_path / "cache")

    assert again.fetched == 5 and pacs.fetches == 8
    assert len(again.labels.by_file) == 8 and list((tmp_path / "cache").rglob("*.part")) == []


def test_a_refused_instance_is_one_report_line_and_the_rest_is_fetched(
    pacs: Pacs, tmp_path: Path
) -> None:
    bad = sorted(pacs.files)[0]
    pacs.missing = {bad[2]}
    ticks: list[tuple[int, int]] = []

    pulled = pull(web(pacs), read_labels(study_labels(pacs, tmp_path)), tmp_path / "c",
                  progress=lambda done, total: ticks.append((done, total)))  # fmt: skip

    assert [(r.file, r.reason, r.detail) for r in pulled.records] == [
        (f"{bad[0]}/{bad[2]}.dcm", RejectReason.FETCH_FAILED, "HTTP 404")
    ]
    assert pulled.fetched == 7 and ticks[-1] == (8, 8)


def test_sop_keyed_labels_list_unlabelled_instances_without_fetching_them(
    pacs: Pacs, tmp_path: Path
) -> None:
    sops = sorted(i for _, _, i in pacs.files)
    (tmp_path / "labels.csv").write_text("SOPInstanceUID,label\n" + f"{sops[0]},0\n{sops[1]},1\n")

    pulled = pull(web(pacs), read_labels(tmp_path / "labels.csv"), tmp_path / "c")

    assert pulled.fetched == 2 and len(pulled.records) == 6
    assert {r.reason for r in pulled.records} == {RejectReason.MISSING_LABEL}


def test_file_keyed_labels_are_refused_for_a_pacs(pacs: Pacs, tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,label\na.dcm,0\nb.dcm,1\n")

    with pytest.raises(PacsError, match="keyed by StudyInstanceUID or SOPInstanceUID"):
        pull(web(pacs), read_labels(tmp_path / "labels.csv"), tmp_path / "c")


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("SOPInstanceUID,label\n1.2,0\n1.3,1\n")
    transport = httpx.MockTransport(lambda request: httpx.Response(404))
    refuse = DicomWeb("http://127.0.0.1:9/dicom-web", client=httpx.Client(transport=transport))

    with pytest.raises(PacsError, match=r"answered 404 to QIDO-RS /studies; check --dicomweb"):
        pull(refuse, read_labels(tmp_path / "labels.csv"), tmp_path / "c")


def test_pulled_images_go_through_the_same_pipeline_and_report(
    pacs: Pacs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport, real = httpx.MockTransport(pacs), httpx.Client
    monkeypatch.setattr("datasite.ingest.dicomweb.httpx.Client",
                        lambda **kw: real(transport=transport))  # fmt: skip
    cache = tmp_path / "cache"
    request = IngestRequest(url="unused", source=cache, labels_csv=study_labels(pacs, tmp_path, 1),
                            dataset="pacs", key_file=Path("unused"), dicomweb="http://pacs/dicom-web",
                            options=IngestOptions(size=16), verify=True)  # fmt: skip

    ready = prepare(request, KEY)

    assert ready.info["accepted"] == 7 and ready.verify is not None and ready.verify.passed
    assert {r.status for r in ready.result.records if r.file.endswith(".dcm")} == {Status.ACCEPTED}
    assert (cache / "ingest-report.csv").exists()
