"""Reports and split that tell the truth: every walked path, always a report, honest split."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
from pathlib import Path

import pydicom
import pytest

from datasite.ingest.gates import GateOptions
from datasite.ingest.pipeline import IngestOptions
from datasite.ingest.records import BurnedInPolicy, IngestError, RejectReason, Status
from datasite.ingest.split import split_by_patient, tolerance
from datasite.ingest.upload import IngestRequest, Prepared, prepare
from datasite.ingest.walk import walk
from datasite.synth import SynthConfig, generate_site, preset

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KEY = b"unit-test-site-key-0123456789abc"


def request(source: Path, **fields: object) -> IngestRequest:
    fields.setdefault("options", IngestOptions(size=16))
    return IngestRequest(url="http://unused", source=source, labels_csv=source / "labels.csv",
                         dataset="d", key_file=Path("unused"), **fields)  # type: ignore[arg-type]  # fmt: skip


def test_every_path_the_walk_meets_is_listed_with_a_reason(tmp_path: Path) -> None:
    source, outside = tmp_path / "src", tmp_path / "outside"
    (source / "a" / "b").mkdir(parents=True)
    outside.mkdir()
    (source / "a" / "b" / "x.dcm").write_bytes(b"x")
    (outside / "y.dcm").write_bytes(b"y")
    (source / "a" / "b" / "up").symlink_to(source / "a")
    (source / "ping").symlink_to(source / "pong")
    (source / "pong").symlink_to(source / "ping")
    (source / "gone").symlink_to(source / "nothing")
    (source / "out.dcm").symlink_to(outside / "y.dcm")
    (source / "outdir").symlink_to(outside)
    (source / "again").symlink_to(source / "a" / "b")
    (source / "inside.dcm").symlink_to(source / "a" / "b" / "x.dcm")
    os.mkfifo(source / "pipe")

    found = {entry.rel: entry.problem for entry in walk(source)}

    assert found == {
        "a/b/x.dcm": None,
        "a/b/up": RejectReason.SYMLINK_LOOP,
        "again": RejectReason.SYMLINKED_FOLDER,
        "gone": RejectReason.DANGLING_LINK,
        "inside.dcm": None,
        "out.dcm": RejectReason.LINK_OUTSIDE_SOURCE,
        "outdir": RejectReason.LINK_OUTSIDE_SOURCE,
        "ping": RejectReason.SYMLINK_LOOP,
        "pong": RejectReason.SYMLINK_LOOP,
        "pipe": RejectReason.NOT_A_REGULAR_FILE,
    }


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    out = tmp_path / "export"
    generate_site(SynthConfig(out, "r", n=6, seed=3, shift=preset("ge-dx"), rows=48))
    return out


def test_links_reach_the_report_and_nothing_outside_is_read(export: Path, tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere.dcm"
    shutil.copy(next(export.rglob("IM*")), secret)
    (export / "loop").symlink_to(export)
    (export / "leak.dcm").symlink_to(secret)
    with (export / "labels.csv").open("a") as labels:
        labels.write("leak.dcm,0,normal\n")

    ready = prepare(request(export), KEY)

    rows = {r["file"]: r for r in csv.DictReader(ready.report_csv.open())}
    assert rows["loop"]["reason"] == "symlink_loop"
    assert rows["leak.dcm"]["reason"] == "link_outside_source"
    assert ready.info["accepted"] == 6


def test_the_report_is_written_when_nothing_is_accepted(tmp_path: Path) -> None:
    shutil.copy(PYDICOM_FILES / "CT_small.dcm", tmp_path / "ct.dcm")
    (tmp_path / "labels.csv").write_text("file,label\nct.dcm,0\nother.dcm,1\n")

    with pytest.raises(IngestError, match=r"1 modality_not_requested\). Nothing was uploaded"):
        prepare(request(tmp_path), KEY)

    document = json.loads((tmp_path / "ingest-report.json").read_text())
    assert document["summary"]["accepted"] == 0
    assert [(f["file"], f["reason"]) for f in document["files"]] == [
        ("ct.dcm", "modality_not_requested"),
        ("ingest-report.log", "not_an_image_file"),  # the site log, opened first
        ("labels.csv", "not_an_image_file"),
    ]


def test_a_decoder_failure_is_one_report_line_and_its_traceback_stays_in_the_log(
    export: Path,
) -> None:
    broken = pydicom.dcmread(PYDICOM_FILES / "JPEG-lossy.dcm")
    broken.BurnedInAnnotation = "NO"
    broken.save_as(export / "broken.dcm")
    with (export / "labels.csv").open("a") as labels:
        labels.write("broken.dcm,0,normal\n")
    terminal = io.StringIO()
    root = logging.StreamHandler(terminal)  # what a CLI (or syft) puts on the root logger
    logging.getLogger().addHandler(root)
    gates = GateOptions(frozenset({"DX", "NM"}), burned_in=BurnedInPolicy.TRUST_HEADER)
    try:
        ready: Prepared = prepare(request(export, options=IngestOptions(size=16, gates=gates)), KEY)
    finally:
        logging.getLogger().removeHandler(root)

    rows = [r for r in ready.result.records if r.file == "broken.dcm"]
    assert [(r.status, r.reason) for r in rows] == [(Status.REJECTED, "decode_failed")]
    assert "Traceback" not in terminal.getvalue() and "libjpeg" not in terminal.getvalue()
    assert "libjpeg" in (export / "ingest-report.log").read_text()


@pytest.mark.parametrize(
    ("sizes", "fraction"),
    [
        pytest.param([30] + [1] * 30, 0.2, id="one-big-patient"),
        pytest.param([1] * 100, 0.2, id="one-image-each"),
        pytest.param([3, 1, 2] * 20, 0.3, id="mixed"),
        pytest.param([5] * 10 + [1] * 7, 0.25, id="fives"),
    ],
)
def test_split_hits_the_requested_fraction_within_tolerance(
    sizes: list[int], fraction: float
) -> None:
    keys = [f"P{i}" for i, size in enumerate(sizes) for _ in range(size)]

    is_val, warnings = split_by_patient(keys, fraction)

    assert abs(is_val.sum() - fraction * len(keys)) <= tolerance(len(keys))
    assert not any("not the" in w for w in warnings)
    assert {k for k, v in zip(keys, is_val, strict=True) if v}.isdisjoint(
        {k for k, v in zip(keys, is_val, strict=True) if not v}
    )


def test_one_patient_cannot_be_split_and_says_so() -> None:
    is_val, warnings = split_by_patient(["P1"] * 40, 0.2)

    assert not is_val.any()
    assert warnings == [
        "one patient only: no validation split is possible; all images are in train"
    ]


def test_few_or_lopsided_patients_are_warned_about() -> None:
    is_val, warnings = split_by_patient(["A"] * 10 + ["B"] * 10, 0.2)

    assert not is_val.any()
    assert warnings[0].startswith("validation holds 0 of 20 images (0%), not the 20% requested")
    assert warnings[1].startswith("few patients: validation holds 0 patient(s) of 2")
