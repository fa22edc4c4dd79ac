"""``datasite ingest`` end to end: log in, process, report, verify, upload.

The processing knows nothing of syft; this module drives it and talks to the datasite only
through ``datasite.syftio.client``. Order matters: the login and the dataset-name check come
first (fail fast, before minutes of decoding), the report is written before the upload (so a
failed upload still leaves it), and a failed ``--verify`` stops before anything is sent.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from datasite.config import AdminCredentials
from datasite.ingest import dicomweb, pipeline, report
from datasite.ingest.deid import load_or_create_key
from datasite.ingest.labels import LabelTable, read_labels
from datasite.ingest.pipeline import REPORT_STEM, IngestOptions, Progress
from datasite.ingest.records import (
    DatasetExistsError,
    FileRecord,
    IngestError,
    NothingAcceptedError,
    PhiLeakError,
    Status,
)
from datasite.ingest.verify import VerifyReport, block_message, uploaded_strings, verify
from fedcommon.exitcodes import DatasiteExit

log = logging.getLogger(__name__)
EXIT_SOME_REJECTED = DatasiteExit.SOME_FILES_REJECTED
QUIET_LOGGERS = ("datasite.ingest", "pydicom")  # to the site log only, never the terminal


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
    classes: tuple[str, ...] | None = None
    dicomweb: str | None = None  # pull from this DICOMweb root into ``source`` (the cache)


@dataclass(frozen=True)
class Progresses:
    """Progress callbacks ``(done, total)`` for decoding and, with --dicomweb, fetching."""

    decode: Progress | None = None
    fetch: Progress | None = None


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


def report_folder(request: IngestRequest) -> tuple[Path, bool]:
    """Where the report and the site log go: --report-dir or SOURCE, else the cwd."""
    wanted = request.report_dir or request.source
    try:
        wanted.mkdir(parents=True, exist_ok=True)
    except OSError:
        return Path.cwd(), True
    return (wanted, False) if os.access(wanted, os.W_OK) else (Path.cwd(), True)


@contextmanager
def site_log(path: Path) -> Iterator[None]:
    """Send ingestion and pydicom log records (decoder tracebacks included) to ``path`` only."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
        lg.propagate = False
    try:
        yield
    finally:
        for lg, (level, propagate) in zip(loggers, saved, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
            lg.propagate = propagate
        handler.close()


def _check_name(client: Any, name: str, url: str) -> None:
    from datasite.syftio.client import dataset_names

    if name in dataset_names(client):
        raise DatasetExistsError(
            f"A dataset named '{name}' already exists on {url}; choose another --dataset "
            "name (datasets are immutable once uploaded)."
        )


def _verify(result: pipeline.IngestResult, name: str, description: str) -> VerifyReport:
    checked = verify(result.phi, uploaded_strings(name, description, pipeline.assets(result)))
    for leak in checked.leaks:
        log.error("PHI value %r from %s found in %s", leak.value, leak.source, leak.where)
    return checked


def _pull(
    request: IngestRequest, labels: LabelTable, progress: Progresses
) -> tuple[LabelTable, list[FileRecord], dict[str, Any]]:
    """With --dicomweb: fetch into the cache; file-keyed labels, unfetched records, counts."""
    if not request.dicomweb:
        return labels, [], {}
    web = dicomweb.DicomWeb(request.dicomweb, max_bytes=request.options.max_pixels * 4 + (16 << 20))
    pulled = dicomweb.pull(web, labels, request.source, progress=progress.fetch)
    log.info("fetched %d instance(s) from %s", pulled.fetched, request.dicomweb)
    counts = {"fetched": pulled.fetched, "from_cache": pulled.cached,
              "not_fetched": len(pulled.records), "cache": str(request.source)}  # fmt: skip
    return pulled.labels, pulled.records, counts


def _process(
    request: IngestRequest, labels: LabelTable, key: bytes, folder: Path, progress: Progresses
) -> tuple[pipeline.IngestResult, dict[str, Any]]:
    options = replace(request.options, collect_phi=request.verify)
    labels, extra, counts = _pull(request, labels, progress)
    try:
        result = pipeline.process(request.source, labels, key, options, progress.decode, extra)
        return result, counts
    except NothingAcceptedError as err:
        info = report.records_summary(err.records)
        csv_path = report.write_report(err.records, info, folder, Path.cwd())[0]
        raise IngestError(
            f"No file under {request.source} was accepted ({info['files']} seen: "
            f"{_reasons(info)}). Nothing was uploaded. Each file's reason: {csv_path}"
        ) from None


def _reasons(info: dict[str, Any]) -> str:
    return ", ".join(f"{n} {r}" for r, n in info["rejected_by_reason"].items()) or "none"


@dataclass
class Prepared:
    """Everything decided before the upload: result, summary, description, written report."""

    result: pipeline.IngestResult
    info: dict[str, Any]
    description: str
    report_csv: Path
    report_json: Path
    report_fallback: bool
    verify: VerifyReport | None


def prepare(
    request: IngestRequest, key: bytes, progress: Progresses | Progress | None = None
) -> Prepared:
    """Labels, processing, summary, --verify and the report; no datasite involved.

    The report is written whatever happens once files were looked at (nothing accepted,
    --verify failed); decoder details go to ingest-report.log beside it.
    """
    labels = read_labels(request.labels_csv, request.classes)
    folder, fell_back = report_folder(request)
    with site_log(folder / f"{REPORT_STEM}.log"):
        bars = progress if isinstance(progress, Progresses) else Progresses(progress)
        result, counts = _process(request, labels, key, folder, bars)
    info = report.summary(result, labels.declared) | ({"dicomweb": counts} if counts else {})
    description = request.description or report.describe(info, request.options.size)
    checked = _verify(result, request.dataset, description) if request.verify else None
    if checked is not None:
        info["verify"] = {"passed": checked.passed, "phi_values": checked.phi_values,
                          "uploaded_strings": checked.uploaded_strings,
                          "leaks": [leak.explain() for leak in checked.leaks]}  # fmt: skip
    csv_path, json_path, _ = report.write_report(result.records, info, folder, Path.cwd())
    if checked is not None and not checked.passed:
        raise PhiLeakError(
            f"--verify found {len(checked.leaks)} source identifier(s) in what would be "
            f"uploaded; nothing was uploaded.\n  {block_message(checked)}\nValues are in the "
            f"site log {folder / (REPORT_STEM + '.log')}; report: {json_path}"
        )
    return Prepared(result, info, description, csv_path, json_path, fell_back, checked)


def ingest(
    request: IngestRequest, creds: AdminCredentials, progress: Progresses | Progress | None = None
) -> IngestOutcome:
    """Run one ingestion; raises a DatasiteError subclass on anything fatal."""
    from datasite.syftio.client import admin_login, upload_dataset

    client = admin_login(request.url, creds)
    _check_name(client, request.dataset, request.url)
    key = load_or_create_key(request.key_file)
    ready = prepare(request, key, progress)
    upload_dataset(client, request.dataset, ready.description, pipeline.assets(ready.result))
    ready.info["uploaded"] = ready.result.count(Status.ACCEPTED)
    return IngestOutcome(
        ready.info, ready.report_csv, ready.report_json, ready.report_fallback, ready.verify
    )
