"""Start-up time of the command-line tools: ``python -m benchmarks.cli_start [--runs 5]``.

Runs each command in a fresh interpreter, as a user's shell does, and prints the median wall
time, plus which heavy libraries (syft, torch, pydicom) the command imported.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

HEAVY = ("syft", "torch", "pydicom")
COMMANDS = {
    "datasite_help": ["datasite", "--help"],
    "researcher_help": ["researcher", "--help"],
    "datasite_requests_help": ["datasite", "requests", "--help"],
    "researcher_train_help": ["researcher", "train", "--help"],
}
PROBE = (
    "import runpy, sys; sys.argv = {argv!r}\n"
    "try:\n    runpy.run_module({tool!r}, run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)"
)


def time_command(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", *argv], capture_output=True, check=True)
    return time.perf_counter() - started


def heavy_imports(argv: list[str]) -> str:
    code = PROBE.format(argv=argv, tool=argv[0], heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    found = [ln for ln in done.stderr.splitlines() if ln.startswith("HEAVY=")]
    return found[-1].split("=", 1)[1] if found else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for name, argv in COMMANDS.items():
        times = [time_command(argv) for _ in range(args.runs)]
        print(f"{name}_s_median={statistics.median(times):.2f} (n={args.runs})")
        print(f"{name}_heavy_imports={heavy_imports(argv) or 'none'}")


if __name__ == "__main__":
    main()
