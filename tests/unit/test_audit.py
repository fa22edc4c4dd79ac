"""The audit chain: append-only, resumes after a restart, and names the first bad record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasite.audit.log import (
    LOG_NAME,
    AuditError,
    AuditLog,
    parse_anchor,
    record_hash,
    verify_dir,
)


def filled(tmp_path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(tmp_path)
    for i in range(n):
        log.append("executed", f"user{i}@uni.example", {"request_id": f"r{i}", "i": i})
    return log


def lines(tmp_path: Path) -> list[str]:
    return (tmp_path / LOG_NAME).read_text().splitlines()


def write(tmp_path: Path, rows: list[str]) -> None:
    (tmp_path / LOG_NAME).write_text("\n".join(rows) + "\n")


def test_records_chain_and_resume_after_reopen(tmp_path: Path) -> None:
    filled(tmp_path, 3)

    again = AuditLog(tmp_path).append("approved", "admin@h.example", {"reason": "ok"})

    records = AuditLog(tmp_path).records()
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert again["prev_hash"] == records[2]["hash"]
    assert again["hash"] == record_hash(again)
    assert set(again) == {"seq", "time", "event", "actor", "details", "prev_hash", "hash"}
    report = verify_dir(tmp_path)
    assert report.ok and report.records == 4 and report.head_hash == again["hash"]


def test_edited_record_is_named(tmp_path: Path) -> None:
    filled(tmp_path)
    rows = lines(tmp_path)
    rows[2] = rows[2].replace("user2@uni.example", "someone@else.example")
    write(tmp_path, rows)

    report = verify_dir(tmp_path)

    assert not report.ok and report.bad_seq == 3 and report.bad_line == 3
    assert "altered" in (report.problem or "")


def test_edited_record_with_recomputed_hash_is_named(tmp_path: Path) -> None:
    filled(tmp_path)
    rows = lines(tmp_path)
    rec = json.loads(rows[1])
    rec["actor"] = "forger@else.example"
    rec["hash"] = record_hash(rec)
    rows[1] = json.dumps(rec)
    write(tmp_path, rows)

    report = verify_dir(tmp_path)

    assert not report.ok and report.bad_seq == 2
    assert "altered or replaced" in (report.problem or "")


def test_deleted_record_is_named(tmp_path: Path) -> None:
    filled(tmp_path)
    rows = lines(tmp_path)
    del rows[1]
    write(tmp_path, rows)

    report = verify_dir(tmp_path)

    assert not report.ok and report.bad_seq == 2
    assert "seq 2..2 were removed" in (report.problem or "")


def test_inserted_record_is_named_even_with_a_valid_hash(tmp_path: Path) -> None:
    filled(tmp_path)
    rows = lines(tmp_path)
    before = json.loads(rows[1])
    forged = {**before, "seq": 3, "actor": "forger@else.example", "prev_hash": before["hash"]}
    forged["hash"] = record_hash(forged)
    rows.insert(2, json.dumps(forged))
    write(tmp_path, rows)

    report = verify_dir(tmp_path)

    assert not report.ok and report.bad_line == 3
    assert "from line 3 to line 3 were inserted" in (report.problem or "")


def test_truncated_tail_is_detected_through_the_head_file(tmp_path: Path) -> None:
    filled(tmp_path)
    write(tmp_path, lines(tmp_path)[:3])

    report = verify_dir(tmp_path)

    assert not report.ok and report.bad_seq == 4
    assert "removed from the end" in (report.problem or "")


def test_anchor_detects_a_rewritten_log(tmp_path: Path) -> None:
    log = filled(tmp_path, 3)
    anchor = (3, log.records()[-1]["hash"])
    (tmp_path / LOG_NAME).unlink()
    (tmp_path / "head.json").unlink()
    filled(tmp_path, 3)  # a consistent, entirely new chain

    assert verify_dir(tmp_path).ok
    report = verify_dir(tmp_path, anchor=anchor)
    assert not report.ok and "anchor" in (report.problem or "")


def test_torn_last_line_stops_appending_with_a_clear_error(tmp_path: Path) -> None:
    filled(tmp_path, 2)
    with (tmp_path / LOG_NAME).open("a") as handle:
        handle.write('{"seq": 3, "ti')

    with pytest.raises(AuditError, match="not a complete audit record"):
        AuditLog(tmp_path).append("executed", "x@y.z")


def test_bad_anchor_text_is_a_clear_error() -> None:
    with pytest.raises(AuditError, match="is not SEQ:HASH"):
        parse_anchor("12:abc")
