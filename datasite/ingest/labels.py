"""The labels spreadsheet: ``file`` (path relative to the source folder) -> ``label``.

Labels are class indices (0..K-1, optionally named by a ``label_name`` column) or class names
(indexed in sorted order). Every problem is reported with its line number.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from datasite.ingest.records import IngestError

REQUIRED_COLUMNS = ("file", "label")


@dataclass(frozen=True)
class LabelTable:
    by_file: dict[str, int]
    class_names: tuple[str, ...]


def normalise(rel: str) -> str:
    """``./a\\b.dcm`` -> ``a/b.dcm``: how the labels file and the folder walk agree."""
    return str(PurePosixPath(rel.strip().replace("\\", "/"))).removeprefix("./")


def _read_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            columns = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise IngestError(f"Cannot read labels file {path}: {err}.") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise IngestError(
            f"Labels file {path} lacks the column(s) {missing} (found {columns}); it needs "
            "a header row with 'file' (path relative to the source folder) and 'label'."
        )
    if not rows:
        raise IngestError(f"Labels file {path} has a header but no rows.")
    return rows


def _class_names(rows: list[dict[str, str]], path: Path) -> tuple[dict[str, int], list[str]]:
    raw = [row["label"].strip() for row in rows]
    if all(value.lstrip("-").isdigit() for value in raw):
        indices = [int(value) for value in raw]
        if min(indices) < 0:
            raise IngestError(f"Labels file {path}: label {min(indices)} is negative.")
        names = [str(i) for i in range(max(indices) + 1)]
        for row, index in zip(rows, indices, strict=True):
            if row.get("label_name"):
                names[index] = row["label_name"].strip()
        return {value: int(value) for value in raw}, names
    ordered = sorted(set(raw))
    return {name: i for i, name in enumerate(ordered)}, ordered


def read_labels(path: Path) -> LabelTable:
    """Read and validate the labels CSV; IngestError says which line is wrong and why."""
    rows = _read_rows(path)
    index_of, names = _class_names(rows, path)
    by_file: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        rel, value = normalise(row["file"] or ""), row["label"].strip()
        if not rel or not value:
            raise IngestError(f"Labels file {path}, line {line}: empty file or label.")
        label = index_of[value]
        if by_file.get(rel, label) != label:
            raise IngestError(
                f"Labels file {path}, line {line}: {rel} is labelled twice with different "
                "labels; keep one row per file."
            )
        by_file[rel] = label
    return LabelTable(by_file=by_file, class_names=tuple(names))
