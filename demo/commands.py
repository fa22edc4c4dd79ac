"""Run ``python -m datasite ...`` / ``python -m researcher ...`` without paying ``import syft``
at every command.

The demo runs about forty commands; each fresh interpreter spent most of its CPU importing
syft (and torch, pandas, pydantic with it): measured 4-9 CPU-seconds per command, so the
imports alone cost minutes on two cores. Here one fork server (:mod:`multiprocessing`'s
``forkserver``) imports those third-party modules once, and every command is a process forked
from it that runs the tool's ``__main__`` exactly as ``python -m TOOL ARGS`` does: its own
argv, environment, stdout / stderr and exit status, and the project's own modules imported
fresh in that process. Nothing of one command survives into the next.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import runpy
import sys
import tempfile
import threading
from dataclasses import dataclass
from multiprocessing.connection import wait as wait_for
from pathlib import Path

# Third-party modules only: the project's modules (and the consoles they create at import,
# which read COLUMNS and the terminal) load in each command's own process.
PRELOAD = ("syft", "pydicom", "PIL.Image", "typer", "rich.console", "httpx")
_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(list(PRELOAD))
_start_lock = threading.Lock()


@dataclass(frozen=True)
class Completed:
    """What ``subprocess.run(..., capture_output=True, text=True)`` would have returned."""

    returncode: int
    stdout: str
    stderr: str


def _as_main(tool: str, args: tuple[str, ...], env: dict[str, str], out: str, err: str) -> None:
    """In the forked process: become ``python -m tool args`` with ``env``, output to files."""
    os.environ.clear()
    os.environ.update(env)
    for stream, path in ((sys.stdout, out), (sys.stderr, err)):
        stream.flush()
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(handle, stream.fileno())
        os.close(handle)
    sys.argv = [tool, *args]
    try:
        runpy.run_module(tool, run_name="__main__", alter_sys=True)
    finally:
        atexit._run_exitfuncs()  # as an interpreter that exits would


def run(tool: str, args: tuple[str, ...], env: dict[str, str]) -> Completed:
    """``python -m tool args`` with ``env``, its output captured (safe from several threads)."""
    with tempfile.TemporaryDirectory(prefix="demo-cmd-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        process = _context.Process(target=_as_main, args=(tool, args, env, str(out), str(err)))
        with _start_lock:
            process.start()
        # Every Process.start() polls all live children (multiprocessing.process._cleanup),
        # and a poll reads the exit status from the child's sentinel: a join racing another
        # thread's start read an empty sentinel and reported 255 (1 command in ~45). So wait
        # for the sentinel unlocked, and read the status under the lock that start holds.
        wait_for([process.sentinel])
        with _start_lock:
            process.join()
        code = process.exitcode if process.exitcode is not None else 1
        return Completed(code, _read(out), _read(err))


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""
