"""``datasite ingest`` end to end: log in, process, report, verify, upload.

The processing knows nothing of syft; this module drives it and talks to the datasite only
through ``datasite.syftio.client``. Order matters: the login and the dataset-name check come
first (fail fast, before minutes of decoding), the report is written before the upload (so a
failed upload still leaves it), and a failed ``--verify`` stops before anything is sent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasite.config import AdminCredentials
from datasite.ingest import pipeline, report
from datasite.ingest.deid import load_or_create_key
from datasite.ingest.labels import read_labels
from datasite.ingest.pipeline import IngestOptions, Progress
from datasite.ingest.records import DatasetExistsError, PhiLeakError, Status
from datasite.ingest.verify import VerifyReport, uploaded_strings, verify
from fedcommon.exitcodes import DatasiteExit

log = logging.getLogger(__name__)
EXIT_SOME_REJECTED = DatasiteExit.SOME_FILES_REJECTED


@dataclass(frozen=True)
class IngestRequest:
    url: str
    source: Path
    labels_csv: Path
    dataset: str
    key_file: Path
    description: str = ""
    options: IngestOptions = field(default_factory=IngestOptions)
    verify: bool = False
    report_dir: Path | None = None


@dataclass
class IngestOutcome:
    summary: dict[str, Any]
    report_csv: Path
    report_json: Path
    report_fallback: bool
    verify: VerifyReport | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_SOME_REJECTED if self.summary["rejected"] else 0


def default_description(result: pipeline.IngestResult) -> str:
    val = 0 if result.val is None else len(result.val.labels)
    return (
        f"De-identified chest radiographs, {len(result.train.labels)} train + {val} validation "
        f"images, {result.train.images.shape[-1]} px uint8; classes: "
        f"{', '.join(result.class_names)}. Mock twins are synthetic."
    )


def _check_name(client: Any, name: str, url: str) -> None:
    from datasite.syftio.client import dataset_names

    if name in dataset_names(client):
        raise DatasetExistsError(
            f"A dataset named '{name}' already exists on {url}; choose another --dataset "
            "name (datasets are immutable once uploaded)."
        )


def _verify(result: pipeline.IngestResult, name: str, description: str) -> VerifyReport:
    checked = verify(result.phi, uploaded_strings(name, description, pipeline.assets(result)))
    for where, value in checked.leaks:
        log.error("PHI value found in %s: %r", where, value)
    return checked


def ingest(
    request: IngestRequest, creds: AdminCredentials, progress: Progress | None = None
) -> IngestOutcome:
    """Run one ingestion; raises a DatasiteError subclass on anything fatal."""
    from datasite.syftio.client import admin_login, upload_dataset

    client = admin_login(request.url, creds)
    _check_name(client, request.dataset, request.url)
    key = load_or_create_key(request.key_file)
    labels = read_labels(request.labels_csv)
    options = IngestOptions(**{**request.options.__dict__, "collect_phi": request.verify})
    result = pipeline.process(request.source, labels, key, options, progress)
    description = request.description or default_description(result)
    info = report.summary(result)
    checked = _verify(result, request.dataset, description) if request.verify else None
    if checked is not None:
        info["verify"] = {"passed": checked.passed, "phi_values": checked.phi_values,
                          "uploaded_strings": checked.uploaded_strings,
                          "leaks": len(checked.leaks)}  # fmt: skip
    directory = request.report_dir or request.source
    csv_path, json_path, fell_back = report.write_report(
        result.records, info, directory, fallback=Path.cwd()
    )
    if checked is not None and not checked.passed:
        raise PhiLeakError(
            f"--verify found {len(checked.leaks)} source identifier(s) in what would be "
            f"uploaded (details in the local log); nothing was uploaded. Check --dataset and "
            f"--description for names or IDs. Report: {json_path}"
        )
    upload_dataset(client, request.dataset, description, pipeline.assets(result))
    info["uploaded"] = result.count(Status.ACCEPTED)
    return IngestOutcome(info, csv_path, json_path, fell_back, checked)
