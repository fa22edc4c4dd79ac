"""Folder + labels -> private arrays, metadata and their mock twins (no syft involved).

Files are processed in worker processes when ``workers > 1``; results come back in file
order so the report and the arrays are deterministic. Accepted images are split into train
and validation by patient (all of one patient's images on one side).
"""

from __future__ import annotations

import hashlib
import secrets
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
from datasite.ingest.labels import LabelTable, normalise
from datasite.ingest.records import FileRecord, IngestError, RejectReason, Status
from fedcommon.schema import DEFAULT_IMAGE_SIZE, IMAGE_DTYPE, LABEL_DTYPE, AssetName

Array = NDArray[Any]

SIDECAR_SUFFIXES = frozenset(
    {".csv", ".json", ".txt", ".md", ".xml", ".log", ".pdf", ".html", ".xlsx", ".yaml", ".yml"}
)
REPORT_STEM = "ingest-report"
Progress = Callable[[int, int], None]  # (files done, files to decode)


@dataclass(frozen=True)
class IngestOptions:
    size: int = DEFAULT_IMAGE_SIZE
    val_fraction: float = 0.2
    workers: int = 1
    collect_phi: bool = False
    mock_seed: int | None = None

    def check(self) -> None:
        if not 16 <= self.size <= 1024:
            raise IngestError(f"--size {self.size} must be between 16 and 1024 (e.g. 128).")
        if not 0.0 <= self.val_fraction < 0.9:
            raise IngestError(f"--val-fraction {self.val_fraction} must be in [0, 0.9).")


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
    phi: set[str] = field(default_factory=set)
    labels_without_file: list[str] = field(default_factory=list)

    def count(self, status: Status) -> int:
        return sum(record.status is status for record in self.records)


def list_files(source: Path) -> list[tuple[Path, str]]:
    """Every regular file under ``source`` (hidden ones included), sorted by relative path."""
    if not source.is_dir():
        raise IngestError(f"Source folder {source} does not exist or is not a folder.")
    found = [(p, normalise(str(p.relative_to(source)))) for p in source.rglob("*") if p.is_file()]
    return sorted(found, key=lambda item: item[1])


def _triage(
    files: list[tuple[Path, str]], labels: LabelTable
) -> tuple[list[FileRecord], list[tuple[str, str]]]:
    """Skip sidecar files, reject unlabelled ones; the rest become decoding jobs."""
    records, jobs = [], []
    for path, rel in files:
        if path.suffix.lower() in SIDECAR_SUFFIXES or path.name.startswith(REPORT_STEM):
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


def split_by_patient(patient_keys: list[str], val_fraction: float) -> Array:
    """A boolean ``is_val`` mask: whole patients, in a keyed-hash order, about the fraction."""
    target = round(val_fraction * len(patient_keys))
    order = sorted(set(patient_keys), key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    keys = np.array(patient_keys, dtype=object)
    is_val = np.zeros(len(patient_keys), dtype=bool)
    for key in order:
        if is_val.sum() >= target:
            break
        candidate = is_val | (keys == key)
        if candidate.all():
            break
        is_val = candidate
    return is_val


def _collect(
    results: Iterator[FileResult], labels: LabelTable, records: list[FileRecord]
) -> list[FileResult]:
    accepted, seen = [], set()
    for result in results:
        if result.reason is None and result.fingerprint and result.fingerprint in seen:
            dup = RejectReason.DUPLICATE_FILE
            if not result.fingerprint.startswith("sha256:"):
                dup = RejectReason.DUPLICATE_SOP_INSTANCE
            result.reason, result.detail = dup, "same as an earlier file"
        label = labels.by_file[result.rel]
        if result.reason is not None:
            records.append(FileRecord(result.rel, Status.REJECTED, result.reason, result.detail))
            continue
        seen.add(result.fingerprint)
        record = FileRecord(result.rel, Status.ACCEPTED, warnings=list(result.warnings))
        record.label = label
        records.append(record)
        accepted.append(result)
    return accepted


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
) -> IngestResult:
    """Read, check, decode, de-identify and split every file; build the mock twins."""
    options.check()
    records, jobs = _triage(list_files(source), labels)
    file_options = FileOptions(options.size, key, options.collect_phi)
    results = list(_run_jobs(jobs, file_options, options.workers, progress))
    phi = {value for result in results for value in result.phi}
    accepted = _collect(iter(results), labels, records)
    if not accepted:
        raise IngestError(
            f"No file under {source} was accepted ({len(records)} seen); see the report "
            "for each file's reason. Nothing was uploaded."
        )
    is_val = split_by_patient([str((r.meta or {})["patient_key"]) for r in accepted],
                              options.val_fraction)  # fmt: skip
    _mark_splits(records, accepted, is_val)
    train = _split(accepted, labels, ~is_val)
    val = _split(accepted, labels, is_val) if is_val.any() else None
    rng = np.random.default_rng(options.mock_seed or secrets.randbits(64))
    mock_train = _mock_of(train, labels.class_names, rng)
    mock_val = _mock_of(val, labels.class_names, rng) if val is not None else None
    seen = {rel for _, rel in jobs} | {r.file for r in records}
    return IngestResult(
        records=sorted(records, key=lambda r: r.file),
        class_names=labels.class_names,
        train=train,
        val=val,
        mock_train=mock_train,
        mock_val=mock_val,
        nearest=mock.nearest_real(mock_train.images, train.images, rng),
        phi=phi,
        labels_without_file=sorted(set(labels.by_file) - seen),
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
