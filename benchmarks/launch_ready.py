"""Launch-to-ready time of a datasite: ``python -m benchmarks.launch_ready [--runs 3]``.

Times ``datasite launch`` from process start until ``/api/v2/metadata`` answers, for a first
launch on an empty data dir and for relaunches on the same dir; prints medians. Each run
launches the site as shipped and, alternating with it, with the fast start switched off
(``fast_start`` in DATASITE_UNSAFE_SKIP_FIXES: a plain ``import syft``), so that both lines
come from the same minutes of a shared machine. Wall time depends on how busy the cores
are; the CPU seconds the site process used until ready do much less, so both are printed,
with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from datasite.config import AdminCredentials
from lab.process import SiteProcess

ADMIN = AdminCredentials(email="bench@hospital.example", password="benchmark-password-1")
MODES = {"fast": {}, "plain": {"DATASITE_UNSAFE_SKIP_FIXES": "fast_start"}}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a running process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def launch_once(site: SiteProcess) -> tuple[float, float]:
    wall = site.start()
    cpu = cpu_seconds(site.process.pid) if site.process else float("nan")
    site.stop()
    return wall, cpu


def time_launches(root: Path, runs: int) -> dict[str, dict[str, list[float]]]:
    found: dict[str, dict[str, list[float]]] = {
        mode: {"first": [], "relaunch": [], "first_cpu": [], "relaunch_cpu": []} for mode in MODES
    }
    for index in range(runs):
        for mode, env in MODES.items():
            site = SiteProcess(f"b{mode}{index}", root / f"{mode}{index}", ADMIN, extra_env=env)
            for kind in ("first", "relaunch"):
                wall, cpu = launch_once(site)
                found[mode][kind].append(wall)
                found[mode][f"{kind}_cpu"].append(cpu)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        found = time_launches(Path(tmp), args.runs)
    print(f"loadavg_1min_before={load_before:.1f} after={os.getloadavg()[0]:.1f} "
          f"cores={os.cpu_count()}")  # fmt: skip
    for mode, label in (("plain", "_before"), ("fast", "")):
        for kind, values in found[mode].items():
            name = f"launch_to_ready_{kind}{label}"
            unit = "s" if kind.endswith("cpu") else "s_median"
            print(f"{name}_{unit}={statistics.median(values):.2f} "
                  f"(n={args.runs}; all {','.join(f'{v:.1f}' for v in values)})")  # fmt: skip


if __name__ == "__main__":
    main()
