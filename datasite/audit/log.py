"""The site's append-only, hash-chained audit log (JSON Lines under ``DATA_DIR/audit/``).

Each record is ``{seq, time, event, actor, details, prev_hash, hash}``; ``hash`` is the
sha256 of the canonical JSON of the record without ``hash`` (so it covers ``prev_hash``), and
``prev_hash`` is the previous record's ``hash`` (64 zeros for the first). Appends are
flushed and fsynced under a thread lock and an exclusive file lock.

A separate head file (``head.json``: the last seq and hash) anchors the tail: deleting the
last records is detected as long as the head file is intact. What cannot be detected from
the directory alone: someone with write access who rewrites the whole chain *and* the head
consistently. Keep the head hash that ``verify`` prints outside the site (e.g. with each
export) and check it later with ``verify --anchor SEQ:HASH``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit

log = logging.getLogger(__name__)
LOG_NAME = "audit.jsonl"
HEAD_NAME = "head.json"
LOCK_NAME = ".lock"
GENESIS = "0" * 64


class AuditError(DatasiteError):
    """The audit log cannot be written or read."""

    exit_code = DatasiteExit.AUDIT


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(record: dict[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class AuditLog:
    """Appends records to ``directory/audit.jsonl``; resumes the chain after a restart."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOG_NAME
        self.head_path = directory / HEAD_NAME
        self._lock = threading.Lock()
        self._tail: tuple[int, int, str] | None = None  # (file size, seq, hash) last seen
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as err:
            raise AuditError(f"Cannot create the audit dir {directory}: {err.strerror}.") from None

    def check_writable(self) -> None:
        """Raise AuditError unless the next append can succeed (dir writable, tail intact)."""
        if not os.access(self.directory, os.W_OK):
            raise AuditError(f"The audit dir {self.directory} is not writable.")
        self._last()

    def _last(self) -> tuple[int, str]:
        """(seq, hash) of the last complete record; a torn last line is an error."""
        size = self.path.stat().st_size if self.path.exists() else 0
        if self._tail is not None and self._tail[0] == size:
            return self._tail[1], self._tail[2]
        if size == 0:
            return 0, GENESIS
        with self.path.open("rb") as handle:
            handle.seek(max(0, self.path.stat().st_size - 1_000_000))
            lines = handle.read().splitlines()
        try:
            last = json.loads(lines[-1])
            self._tail = (size, int(last["seq"]), str(last["hash"]))
            return self._tail[1], self._tail[2]
        except (ValueError, KeyError, IndexError):
            raise AuditError(
                f"The last line of {self.path} is not a complete audit record (a crash "
                "mid-write or tampering). Run `datasite audit verify --data-dir ...`, keep a "
                "copy, and move the damaged line out before restarting."
            ) from None

    def append(
        self, event: str, actor: str, details: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Write one record durably and return it. Raises AuditError when it cannot."""
        with self._lock, _file_lock(self.directory / LOCK_NAME):
            seq, prev = self._last()
            record: dict[str, Any] = {
                "seq": seq + 1,
                "time": utc_now(),
                "event": event,
                "actor": actor,
                "details": json.loads(canonical_json(details or {})),
                "prev_hash": prev,
            }
            record["hash"] = record_hash(record)
            try:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(canonical_json(record) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                _write_atomic(
                    self.head_path, canonical_json({"seq": seq + 1, "hash": record["hash"]})
                )
                self._tail = (self.path.stat().st_size, seq + 1, record["hash"])
            except OSError as err:
                raise AuditError(f"Cannot append to {self.path}: {err.strerror}.") from None
        return record

    def records(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every parseable record (oldest first), optionally only those at/after ``since``."""
        out = [rec for _, rec in read_lines(self.path) if isinstance(rec, dict)]
        if since is not None:
            out = [rec for rec in out if _parse_time(rec.get("time")) >= since]
        return out

    def head(self) -> dict[str, Any] | None:
        return read_head(self.head_path)


def _parse_time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def read_lines(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed JSON or None when unparseable) for every non-empty line."""
    if not path.exists():
        return []
    out: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                out.append((number, json.loads(line)))
            except ValueError:
                out.append((number, None))
    return out


def read_head(path: Path) -> dict[str, Any] | None:
    try:
        head = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return head if isinstance(head, dict) else None


class VerifyReport(BaseModel):
    ok: bool
    records: int
    head_seq: int
    head_hash: str
    problem: str | None = None
    bad_seq: int | None = None
    bad_line: int | None = None
    notes: list[str] = []


def raw_lines(directory: Path) -> list[str]:
    path = directory / LOG_NAME
    if not path.exists():
        return []
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def verify_dir(directory: Path, anchor: tuple[int, str] | None = None) -> VerifyReport:
    """Check the chain in a data dir's ``audit/`` folder (offline, no server needed)."""
    return verify_lines(raw_lines(directory), read_head(directory / HEAD_NAME), anchor)


def _fail(report: VerifyReport, line: int, seq: int | None, problem: str) -> VerifyReport:
    return report.model_copy(
        update={"ok": False, "bad_line": line, "bad_seq": seq, "problem": problem}
    )


def _link_problem(
    number: int, rec: dict[str, Any], expected: int, hashes: dict[str, tuple[int, int]]
) -> tuple[int, int | None, str]:
    """Name the first bad record when ``rec`` does not follow the one before it."""
    seq = int(rec.get("seq", -1))
    earlier = hashes.get(str(rec.get("prev_hash")))
    if earlier is not None:  # it links to an older record: what lies between was inserted
        line = earlier[0] + 1
        return (
            line,
            None,
            (
                f"record(s) from line {line} to line {number - 1} were inserted: line {number} "
                f"(seq {seq}) links to line {earlier[0]} (seq {earlier[1]})"
            ),
        )
    if seq > expected:
        return (
            number,
            expected,
            (
                f"record(s) seq {expected}..{seq - 1} were removed (line {number} has seq {seq}, "
                f"expected {expected})"
            ),
        )
    if seq < expected:
        return number, seq, f"line {number} has seq {seq} where {expected} was expected: inserted"
    return (
        number - 1,
        seq - 1,
        (
            f"record seq {seq - 1} was altered or replaced: record seq {seq} (line {number}) "
            "links to a different hash"
        ),
    )


def verify_lines(
    lines: list[str], head: dict[str, Any] | None, anchor: tuple[int, str] | None = None
) -> VerifyReport:
    """Walk the chain; the report names the first record altered, removed or inserted."""
    report = VerifyReport(ok=True, records=0, head_seq=0, head_hash=GENESIS)
    prev, expected = GENESIS, 1
    hashes: dict[str, tuple[int, int]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            seq = int(rec["seq"])
        except (ValueError, KeyError, TypeError):
            return _fail(report, number, None, f"line {number} is not a valid audit record")
        if record_hash(rec) != rec.get("hash"):
            return _fail(
                report,
                number,
                seq,
                f"record seq {seq} (line {number}) was altered: "
                "its content does not match its hash",
            )
        if seq != expected or rec.get("prev_hash") != prev:
            bad_line, bad_seq, problem = _link_problem(number, rec, expected, hashes)
            return _fail(report, bad_line, bad_seq, problem)
        hashes[rec["hash"]] = (number, seq)
        prev, expected = rec["hash"], seq + 1
        report = report.model_copy(
            update={"records": report.records + 1, "head_seq": seq, "head_hash": prev}
        )
    report = _check_head(report, head, hashes)
    return _check_anchor(report, anchor, hashes) if report.ok else report


def _check_head(
    report: VerifyReport, head: dict[str, Any] | None, hashes: dict[str, tuple[int, int]]
) -> VerifyReport:
    if head is None:
        if report.records == 0:
            return report
        return _fail(
            report,
            0,
            None,
            f"the head file {HEAD_NAME} is missing or unreadable: "
            "cannot tell whether records were removed from the end",
        )
    seq, digest = int(head.get("seq", -1)), str(head.get("hash", ""))
    if seq > report.head_seq:
        return _fail(
            report,
            0,
            report.head_seq + 1,
            f"record(s) seq {report.head_seq + 1}.."
            f"{seq} were removed from the end (the head file records seq {seq})",
        )
    if hashes.get(digest, (0, -1))[1] != seq and not (seq == 0 and report.records == 0):
        return _fail(
            report,
            0,
            seq,
            f"record seq {seq} does not carry the hash the head file "
            "recorded: the end of the log was rewritten",
        )
    if seq < report.head_seq:  # a crash between the append and the head update
        return report.model_copy(
            update={
                "notes": [*report.notes, f"head file is at seq {seq}, log at {report.head_seq}"]
            }
        )
    return report


def _check_anchor(
    report: VerifyReport, anchor: tuple[int, str] | None, hashes: dict[str, tuple[int, int]]
) -> VerifyReport:
    if anchor is None:
        return report
    seq, digest = anchor
    if hashes.get(digest, (0, -1))[1] != seq:
        return _fail(
            report,
            0,
            seq,
            f"the anchor seq {seq} hash {digest[:16]}... is not in the "
            "log: the log was rewritten since that anchor was taken",
        )
    return report


def parse_anchor(text: str) -> tuple[int, str]:
    seq, _, digest = text.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise AuditError(f"--anchor '{text}' is not SEQ:HASH (e.g. 12:3fa9...64 hex digits).")
    return int(seq), digest.lower()
