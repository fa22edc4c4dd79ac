"""The per-file ingestion report (CSV + JSON) and its summary.

Both stay at the site: they name local files and may quote decoder messages. By default they
are written next to the source (``SOURCE/ingest-report.csv|json``); when that folder is
read-only they go to the fallback folder instead, and the caller warns.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from datasite.ingest.pipeline import REPORT_STEM, IngestResult
from datasite.ingest.records import FileRecord, Status

log = logging.getLogger(__name__)
CSV_COLUMNS = ("file", "status", "reason", "detail", "warnings", "split", "label")


def records_summary(records: list[FileRecord]) -> dict[str, Any]:
    """Counts by status, rejection reason and warning (also when nothing was accepted)."""
    rejected = Counter(r.reason for r in records if r.status is Status.REJECTED)
    warnings = Counter(w for r in records for w in r.warnings)
    return {
        "files": len(records),
        "accepted": sum(r.status is Status.ACCEPTED for r in records),
        "rejected": sum(r.status is Status.REJECTED for r in records),
        "skipped": sum(r.status is Status.SKIPPED for r in records),
        "rejected_by_reason": dict(sorted(rejected.items())),
        "warnings": dict(sorted(warnings.items())),
    }


def summary(result: IngestResult, classes_declared: bool = False) -> dict[str, Any]:
    """Records summary plus split sizes and warnings, classes, ingested facts, mock distance."""
    val_n = 0 if result.val is None else len(result.val.labels)
    classes = Counter(int(y) for y in result.train.labels)
    if result.val is not None:
        classes.update(int(y) for y in result.val.labels)
    return {
        **records_summary(result.records),
        "train": len(result.train.labels),
        "val": val_n,
        "split_warnings": list(result.split_warnings),
        "classes": {name: classes.get(k, 0) for k, name in enumerate(result.class_names)},
        "classes_declared": classes_declared,
        "ingested": result.facts,
        "labels_without_file": len(result.labels_without_file),
        "mock_nearest_real": result.nearest,
    }


def describe(info: dict[str, Any], size: int) -> str:
    """A dataset description generated from what was ingested (coded facts and counts only)."""
    facts = info["ingested"]
    modalities = ", ".join(f"{m} {n}" for m, n in facts["modalities"].items())
    parts = ", ".join(f"{p} {n}" for p, n in facts["body_parts"].items())
    classes = ", ".join(f"{c} {n}" for c, n in info["classes"].items())
    (r0, r1), (c0, c1) = facts["rows"], facts["columns"]
    return (
        f"De-identified images by modality: {modalities}; body part: {parts}. "
        f"{info['train']} train + {info['val']} validation images, {size}x{size} px uint8, "
        f"from sources of {r0}-{r1} rows x {c0}-{c1} columns. Classes: {classes}. "
        "Mock twins are synthetic."
    )


def _write(directory: Path, records: list[FileRecord], info: dict[str, Any]) -> tuple[Path, Path]:
    csv_path, json_path = directory / f"{REPORT_STEM}.csv", directory / f"{REPORT_STEM}.json"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(record.row() for record in records)
    document = {"summary": info, "files": [record.row() for record in records]}
    json_path.write_text(json.dumps(document, indent=1, ensure_ascii=False), encoding="utf-8")
    return csv_path, json_path


def write_report(
    records: list[FileRecord], info: dict[str, Any], directory: Path, fallback: Path
) -> tuple[Path, Path, bool]:
    """Write CSV + JSON to ``directory``, or to ``fallback`` if that fails.

    Returns both paths and whether the fallback was used.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        return (*_write(directory, records, info), False)
    except OSError as err:
        log.warning("cannot write the report to %s (%s); using %s", directory, err, fallback)
    fallback.mkdir(parents=True, exist_ok=True)
    return (*_write(fallback, records, info), True)
