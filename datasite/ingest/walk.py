"""Walking the source folder: every path met is listed, nothing is followed out of it.

Links to files inside the folder are read through; everything else a walk can meet is an
entry with a reason instead of a silent gap: links that loop back to one of their own parent
folders or form a cycle, dangling links, links leaving the folder, links to folders inside it
(their files are listed at their real place), fifos/sockets/devices, folders it may not list.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from datasite.ingest.records import IngestError, RejectReason


@dataclass(frozen=True)
class Entry:
    path: Path
    rel: str  # relative to the source, "/"-separated
    problem: RejectReason | None = None
    detail: str = ""


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _link(path: str, rel: str, parent_real: str, root: str) -> Entry:
    try:
        real = os.path.realpath(path, strict=True)
    except FileNotFoundError:
        return Entry(Path(path), rel, RejectReason.DANGLING_LINK, f"-> {os.readlink(path)}")
    except OSError as err:  # ELOOP: a cycle of links
        return Entry(Path(path), rel, RejectReason.SYMLINK_LOOP, err.strerror or "loop")
    if not _inside(real, root):
        return Entry(Path(path), rel, RejectReason.LINK_OUTSIDE_SOURCE, "points out of the source")
    if os.path.isdir(real):
        if _inside(parent_real, real):
            return Entry(Path(path), rel, RejectReason.SYMLINK_LOOP, "points to a parent folder")
        target = os.path.relpath(real, root).replace(os.sep, "/")
        return Entry(Path(path), rel, RejectReason.SYMLINKED_FOLDER, f"walked at {target}")
    return _plain(path, rel, os.stat(real).st_mode)


def _plain(path: str, rel: str, mode: int) -> Entry:
    if stat.S_ISREG(mode):
        return Entry(Path(path), rel)
    return Entry(Path(path), rel, RejectReason.NOT_A_REGULAR_FILE, "fifo, socket or device")


def _scan(folder: str, prefix: str, root: str, out: list[Entry]) -> None:
    try:
        with os.scandir(folder) as found:
            items = sorted(found, key=lambda e: e.name)
    except OSError as err:
        rel = prefix.rstrip("/") or "."
        out.append(Entry(Path(folder), rel, RejectReason.UNREADABLE_FOLDER, err.strerror or ""))
        return
    real_folder = os.path.realpath(folder)
    for item in items:
        rel = prefix + item.name
        if item.is_symlink():
            out.append(_link(item.path, rel, real_folder, root))
        elif item.is_dir(follow_symlinks=False):
            _scan(item.path, rel + "/", root, out)
        else:
            out.append(_plain(item.path, rel, item.stat(follow_symlinks=False).st_mode))


def walk(source: Path) -> list[Entry]:
    """Every path under ``source``, sorted by relative path, each with its problem if any."""
    if not source.is_dir():
        raise IngestError(f"Source folder {source} does not exist or is not a folder.")
    out: list[Entry] = []
    _scan(str(source), "", os.path.realpath(source), out)
    return sorted(out, key=lambda entry: entry.rel)
