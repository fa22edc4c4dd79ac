"""Folder + labels -> private arrays, metadata and their mock twins (no syft involved).

Files are processed in worker processes when ``workers > 1``; results come back in file
order so the report and the arrays are deterministic. Accepted images are split into train
and validation by patient (all of one patient's images on one side).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from datasite.ingest import mock
from datasite.ingest.decode import FileOptions, FileResult, process_file
from datasite.ingest.gates import GateOptions
from datasite.ingest.labels import LabelTable
from datasite.ingest.records import (
    DEFAULT_MAX_PIXELS,
    FileRecord,
    IngestError,
    NothingAcceptedError,
    RejectReason,
    Status,
)
from datasite.ingest.split import split_by_patient
from datasite.ingest.walk import walk
from fedcommon.schema import DEFAULT_IMAGE_SIZE, IMAGE_DTYPE, LABEL_DTYPE, AssetName

Array = NDArray[Any]

SIDECAR_SUFFIXES = frozenset(
    {
        ".csv",
        ".json",
        ".txt",
        ".md",
        ".xml",
        ".log",
        ".pdf",
        ".html",
        ".xlsx",
        ".yaml",
        ".yml",
        ".part",
    }  # .part: a --dicomweb download cut short
)
REPORT_STEM = "ingest-report"
Progress = Callable[[int, int], None]  # (files done, files to decode)
DEFAULT_WORKERS = 1  # measured: benchmarks/ingest.py (one worker is fastest on 2 shared cores)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestOptions:
    size: int = DEFAULT_IMAGE_SIZE
    val_fraction: float = 0.2
    workers: int = DEFAULT_WORKERS
    collect_phi: bool = False
    mock_seed: int | None = None
    gates: GateOptions = field(default_factory=GateOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS

    def check(self) -> None:
        if not 16 <= self.size <= 1024:
            raise IngestError(f"--size {self.size} must be between 16 and 1024 (e.g. 128).")
        if not 0.0 <= self.val_fraction < 0.9:
            raise IngestError(f"--val-fraction {self.val_fraction} must be in [0, 0.9).")
        if self.max_pixels < 64 * 64:
            raise IngestError(f"--max-pixels {self.max_pixels} is too small (e.g. 40000000).")


@dataclass
class Split:
    images: Array  # N x 1 x size x size uint8
    labels: Array  # N int64
    metadata: pd.DataFrame


@dataclass
class IngestResult:
    records: list[FileRecord]
    class_names: tuple[str, ...]
    train: Split
    val: Split | None
    mock_train: Split
    mock_val: Split | None
    nearest: dict[str, float | int]
    phi: dict[str, str] = field(default_factory=dict)  # value -> source tag (local only)
    labels_without_file: list[str] = field(default_factory=list)
    split_warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # coded facts for the description

    def count(self, status: Status) -> int:
        return sum(record.status is status for record in self.records)


def list_files(source: Path) -> list[tuple[Path, str]]:
    """Every regular file under ``source`` (links inside it read through), by relative path."""
    return [(entry.path, entry.rel) for entry in walk(source) if entry.problem is None]


def _triage(source: Path, labels: LabelTable) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Walk problems and sidecar files are listed; unlabelled files rejected; rest decoded."""
    records, jobs = [], []
    for entry in walk(source):
        path, rel = entry.path, entry.rel
        if entry.problem is not None:
            records.append(FileRecord(rel, Status.REJECTED, entry.problem, entry.detail))
        elif path.suffix.lower() in SIDECAR_SUFFIXES or path.name.startswith(REPORT_STEM):
            records.append(FileRecord(rel, Status.SKIPPED, "not_an_image_file"))
        elif rel not in labels.by_file:
            records.append(FileRecord(rel, Status.REJECTED, RejectReason.MISSING_LABEL))
        else:
            jobs.append((str(path), rel))
    return records, jobs


def _run_jobs(
    jobs: list[tuple[str, str]], options: FileOptions, workers: int, progress: Progress | None
) -> Iterator[FileResult]:
    work = partial(process_file, options=options)
    if progress:
        progress(0, len(jobs))
    if workers <= 1 or len(jobs) < 8:
        for done, result in enumerate(map(work, jobs), start=1):
            yield _tick(result, progress, done, len(jobs))
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(work, jobs, chunksize=8), start=1):
            yield _tick(result, progress, done, len(jobs))


def _tick(result: FileResult, progress: Progress | None, done: int, total: int) -> FileResult:
    if progress:
        progress(done, total)
    return result


def _duplicate(result: FileResult, seen: set[str]) -> None:
    if result.reason is not None:
        return
    if result.fingerprint and result.fingerprint in seen:
        result.reason, result.detail = RejectReason.DUPLICATE_SOP_INSTANCE, "same SOP instance"
    elif result.pixel_hash in seen:
        result.reason, result.detail = RejectReason.DUPLICATE_PIXELS, "same decoded image"
    else:
        seen.update(h for h in (result.fingerprint, result.pixel_hash) if h)


def _collect(
    results: Iterator[FileResult], labels: LabelTable, records: list[FileRecord]
) -> list[FileResult]:
    accepted: list[FileResult] = []
    seen: set[str] = set()
    for result in results:
        _duplicate(result, seen)
        if result.reason is not None:
            log.info("rejected %s: %s (%s)", result.rel, result.reason, result.detail)
            records.append(FileRecord(result.rel, Status.REJECTED, result.reason, result.detail))
            continue
        record = FileRecord(result.rel, Status.ACCEPTED, warnings=list(result.warnings))
        record.label = labels.by_file[result.rel]
        records.append(record)
        accepted.append(result)
    return accepted


def _facts(accepted: list[FileResult]) -> dict[str, Any]:
    metas = [r.meta or {} for r in accepted]
    return {
        "modalities": dict(sorted(Counter(str(m["modality"]) for m in metas).items())),
        "body_parts": dict(sorted(Counter(r.body_part or "not stated" for r in accepted).items())),
        "rows": [min(int(m["rows"]) for m in metas), max(int(m["rows"]) for m in metas)],
        "columns": [min(int(m["columns"]) for m in metas), max(int(m["columns"]) for m in metas)],
    }


def _split(accepted: list[FileResult], labels: LabelTable, mask: Array) -> Split:
    chosen = [r for r, keep in zip(accepted, mask, strict=True) if keep]
    label_values = np.array([labels.by_file[r.rel] for r in chosen], dtype=LABEL_DTYPE)
    rows = [
        {**(r.meta or {}), "label": int(y), "label_name": labels.class_names[int(y)]}
        for r, y in zip(chosen, label_values, strict=True)
    ]
    images = np.stack([r.image for r in chosen if r.image is not None])[:, None]
    return Split(images.astype(IMAGE_DTYPE), label_values, mock.metadata_frame(rows))


def _mock_of(split: Split, names: tuple[str, ...], rng: np.random.Generator) -> Split:
    size = split.images.shape[-1]
    labels = mock.mock_labels(split.labels, rng)
    images = mock.mock_images(labels, size, rng)
    return Split(images, labels, mock.mock_metadata(labels, names, size, rng))


def process(
    source: Path,
    labels: LabelTable,
    key: bytes,
    options: IngestOptions,
    progress: Progress | None = None,
    extra: list[FileRecord] | None = None,
) -> IngestResult:
    """Read, gate, decode, de-identify and split every file; build the mock twins.

    ``extra``: records of files never on disk (e.g. not fetched from a PACS) for the report.
    Raises NothingAcceptedError (carrying every file's record) when no file was accepted.
    """
    options.check()
    records, jobs = _triage(source, labels)
    known = {r.file for r in records} | {rel for _, rel in jobs}
    records += [r for r in extra or [] if r.file not in known]
    file_options = FileOptions(
        options.size, key, options.collect_phi, options.gates, options.max_pixels
    )
    results = list(_run_jobs(jobs, file_options, options.workers, progress))
    phi: dict[str, str] = {}
    for result in results:
        for value, tag in result.phi.items():
            phi.setdefault(value, tag)
    accepted = _collect(iter(results), labels, records)
    records.sort(key=lambda r: r.file)
    if not accepted:
        raise NothingAcceptedError(
            f"No file under {source} was accepted ({len(records)} seen); see the report "
            "for each file's reason. Nothing was uploaded.",
            records,
        )
    is_val, split_warnings = split_by_patient(
        [str((r.meta or {})["patient_key"]) for r in accepted], options.val_fraction
    )
    _mark_splits(records, accepted, is_val)
    train = _split(accepted, labels, ~is_val)
    val = _split(accepted, labels, is_val) if is_val.any() else None
    rng = np.random.default_rng(options.mock_seed or secrets.randbits(64))
    mock_train = _mock_of(train, labels.class_names, rng)
    mock_val = _mock_of(val, labels.class_names, rng) if val is not None else None
    seen = {rel for _, rel in jobs} | {r.file for r in records}
    return IngestResult(
        records=records,
        class_names=labels.class_names,
        train=train,
        val=val,
        mock_train=mock_train,
        mock_val=mock_val,
        nearest=mock.nearest_real(mock_train.images, train.images, rng),
        phi=phi,
        labels_without_file=sorted(set(labels.by_file) - seen),
        split_warnings=split_warnings,
        facts=_facts(accepted),
    )


def _mark_splits(records: list[FileRecord], accepted: list[FileResult], mask: Any) -> None:
    split_of = {r.rel: ("val" if v else "train") for r, v in zip(accepted, mask, strict=True)}
    for record in records:
        record.split = split_of.get(record.file, "")


def assets(result: IngestResult) -> dict[str, tuple[Any, Any]]:
    """``{asset name: (private, mock)}`` following fedcommon.schema."""
    pairs: dict[str, tuple[Any, Any]] = {
        AssetName.IMAGES: (result.train.images, result.mock_train.images),
        AssetName.LABELS: (result.train.labels, result.mock_train.labels),
        AssetName.METADATA: (result.train.metadata, result.mock_train.metadata),
    }
    if result.val is not None and result.mock_val is not None:
        pairs[AssetName.VAL_IMAGES] = (result.val.images, result.mock_val.images)
        pairs[AssetName.VAL_LABELS] = (result.val.labels, result.mock_val.labels)
        pairs[AssetName.VAL_METADATA] = (result.val.metadata, result.mock_val.metadata)
    return {str(name): pair for name, pair in pairs.items()}
