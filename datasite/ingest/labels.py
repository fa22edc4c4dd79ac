"""The labels spreadsheet: one key column (which image) and ``label`` (which class).

Key column, one of: ``file`` (path relative to the source folder), ``StudyInstanceUID`` or
``SOPInstanceUID`` (for ``--dicomweb``: every image of a study, or one image).

Classes are declared with ``--classes normal,pneumonia`` or, in the file itself, with a first
line ``# classes: normal,pneumonia`` above the header row. With a declared list a label is a
class name or its index (0 = first) and anything else is an error naming its line. Without
one, the classes are discovered: integers must be exactly 0..K-1 (a gap such as 0,1,7 is
refused: it is almost always a typo), names are indexed in sorted order, and a mix of both
is refused. An optional ``label_name`` column names integer classes. Every problem is
reported with its line number; nothing here raises anything but ``IngestError``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from datasite.ingest.records import IngestError

KEY_COLUMNS = ("file", "StudyInstanceUID", "SOPInstanceUID")
CLASSES_LINE = "# classes:"
MAX_LISTED_ERRORS = 15


@dataclass(frozen=True)
class LabelTable:
    by_key: dict[str, int]
    class_names: tuple[str, ...]
    key_column: str = "file"
    declared: bool = False  # the class list was declared, not discovered

    @property
    def by_file(self) -> dict[str, int]:
        return self.by_key


@dataclass(frozen=True)
class _Row:
    line: int
    key: str
    label: str
    label_name: str


def normalise(rel: str) -> str:
    """``./a\\b.dcm`` -> ``a/b.dcm``: how the labels file and the folder walk agree."""
    return str(PurePosixPath(rel.strip().replace("\\", "/"))).removeprefix("./")


def parse_classes(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if len(names) < 2 or len(set(names)) != len(names):
        raise IngestError(
            f"Classes '{text}': give two or more distinct names, e.g. --classes normal,pneumonia."
        )
    return names


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise IngestError(f"Cannot read labels file {path}: {err}.") from None


def _header_classes(lines: list[str]) -> tuple[tuple[str, ...] | None, int]:
    """Classes from a leading ``# classes:`` line, and the index of the header row."""
    classes, start = None, 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        text = lines[start].strip()
        if text.lower().startswith(CLASSES_LINE):
            classes = parse_classes(text[len(CLASSES_LINE) :])
        start += 1
    return classes, start


def _columns(header: list[str], path: Path) -> tuple[str, int, int, int | None]:
    names = [h.strip() for h in header]
    keys = [c for c in KEY_COLUMNS if c in names]
    if len(keys) != 1 or "label" not in names:
        raise IngestError(
            f"Labels file {path}: header {names} needs 'label' and exactly one of "
            f"{', '.join(KEY_COLUMNS)} (e.g. 'file,label')."
        )
    name_at = names.index("label_name") if "label_name" in names else None
    return keys[0], names.index(keys[0]), names.index("label"), name_at


def _rows(path: Path) -> tuple[str, list[_Row], list[str], tuple[str, ...] | None]:
    lines = _lines(path)
    classes, start = _header_classes(lines)
    table = list(csv.reader(lines[start:]))
    if not table:
        raise IngestError(f"Labels file {path} is empty; it needs a header row 'file,label'.")
    key, key_at, label_at, name_at = _columns(table[0], path)
    rows, errors, need = [], [], max(key_at, label_at) + 1
    for offset, fields in enumerate(table[1:], start=start + 2):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) < need:
            errors.append(f"line {offset}: {len(fields)} field(s), expected {key},label")
            continue
        name = fields[name_at].strip() if name_at is not None and name_at < len(fields) else ""
        row = _Row(offset, fields[key_at].strip(), fields[label_at].strip(), name)
        if not row.key or not row.label:
            errors.append(f"line {offset}: empty {key} or label")
        else:
            rows.append(row)
    return key, rows, errors, classes


def _declared(rows: list[_Row], names: tuple[str, ...], errors: list[str]) -> dict[int, int]:
    index = {name: i for i, name in enumerate(names)}
    index |= {str(i): i for i in range(len(names))}
    labels = {}
    for row in rows:
        if row.label in index:
            labels[row.line] = index[row.label]
        else:
            errors.append(
                f"line {row.line}: label '{row.label}' is not one of the declared classes "
                f"{', '.join(names)} (or 0..{len(names) - 1})"
            )
    return labels


def _discovered(rows: list[_Row], path: Path) -> tuple[dict[int, int], tuple[str, ...]]:
    ints = [r for r in rows if r.label.isdigit()]
    if ints and len(ints) != len(rows):
        odd = next(r for r in rows if not r.label.isdigit())
        raise IngestError(
            f"Labels file {path} mixes integer labels and names (line {odd.line}: "
            f"'{odd.label}'); fix the typo or declare the classes with --classes."
        )
    if not ints:
        names = tuple(sorted({r.label for r in rows}))
        return {r.line: names.index(r.label) for r in rows}, names
    values = sorted({int(r.label) for r in rows})
    if values != list(range(len(values))):
        missing = sorted(set(range(values[-1] + 1)) - set(values))
        raise IngestError(
            f"Labels file {path}: integer labels {values} are not 0..K-1 (missing "
            f"{missing[:5]}); a stray value is usually a typo. Fix it, or declare the "
            "classes with --classes."
        )
    names_by_index = {int(r.label): r.label_name for r in rows if r.label_name}
    names = tuple(names_by_index.get(i, str(i)) for i in values)
    return {r.line: int(r.label) for r in rows}, names


def _fail(path: Path, errors: list[str]) -> None:
    listed = errors[:MAX_LISTED_ERRORS]
    more = f"\n  ... and {len(errors) - len(listed)} more" if len(errors) > len(listed) else ""
    raise IngestError(
        f"Labels file {path} has {len(errors)} bad line(s):\n  " + "\n  ".join(listed) + more
    )


def read_labels(path: Path, classes: tuple[str, ...] | None = None) -> LabelTable:
    """Read and validate the labels CSV; IngestError says which lines are wrong and why."""
    key, rows, errors, in_file = _rows(path)
    if classes and in_file and classes != in_file:
        raise IngestError(
            f"--classes {','.join(classes)} differs from the labels file's "
            f"'# classes: {','.join(in_file)}'; keep one."
        )
    if not rows and not errors:
        raise IngestError(f"Labels file {path} has a header but no rows.")
    declared = classes or in_file
    if declared:
        by_line, names = _declared(rows, declared, errors), declared
    if errors:
        _fail(path, errors)
    if not declared:
        by_line, names = _discovered(rows, path)
    return _table(rows, by_line, names, key, bool(declared), path)


def _table(
    rows: list[_Row], by_line: dict[int, int], names: tuple[str, ...], key: str,
    declared: bool, path: Path,
) -> LabelTable:  # fmt: skip
    by_key: dict[str, int] = {}
    for row in rows:
        rel = normalise(row.key) if key == "file" else row.key
        label = by_line[row.line]
        if by_key.get(rel, label) != label:
            raise IngestError(
                f"Labels file {path}, line {row.line}: {rel} is labelled twice with different "
                "labels; keep one row per image."
            )
        by_key[rel] = label
    return LabelTable(by_key, names, key, declared)
