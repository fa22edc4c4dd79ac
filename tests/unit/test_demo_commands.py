"""The demo's fork server reports every command's own exit status, even with commands
finishing in several threads at once (the demo runs one per hospital concurrently)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from demo import commands


def test_concurrent_commands_each_report_their_own_exit_status(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.json")

    def one(index: int) -> tuple[int, int]:
        ok = index % 2 == 0  # `python -m json.tool --help` exits 0; a missing file exits 2
        result = commands.run("json.tool", ("--help",) if ok else (missing,), {})
        return (0 if ok else 2), result.returncode

    # Before the fix about 1 command in 60 reported 255 (its status was read by another
    # thread's Process.start()); 400 commands miss that with a probability near 0.002.
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(one, range(400)))
    wrong = [(expected, got) for expected, got in outcomes if expected != got]
    assert wrong == []


def test_a_command_runs_with_its_own_arguments_and_output() -> None:
    result = commands.run("json.tool", ("--help",), {})
    assert result.returncode == 0
    assert "usage:" in result.stdout and "json.tool" in result.stdout
