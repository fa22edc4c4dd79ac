"""Launch-to-ready time of a datasite: ``python -m benchmarks.launch_ready [--runs 5]``.

Times ``datasite launch`` from process start until ``/api/v2/metadata`` answers, for a first
launch on an empty data dir and for relaunches on the same dir; prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from datasite.config import AdminCredentials
from lab.process import SiteProcess

ADMIN = AdminCredentials(email="bench@hospital.example", password="benchmark-password-1")


def time_launches(root: Path, runs: int) -> tuple[list[float], list[float]]:
    first, again = [], []
    for index in range(runs):
        site = SiteProcess(name=f"bench{index}", data_dir=root / f"s{index}", admin=ADMIN)
        first.append(site.start())
        site.stop()
        again.append(site.start())
        site.stop()
    return first, again


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        first, again = time_launches(Path(tmp), args.runs)
    print(f"launch_to_ready_first_s_median={statistics.median(first):.2f} (n={args.runs})")
    print(f"launch_to_ready_relaunch_s_median={statistics.median(again):.2f} (n={args.runs})")
    print(f"launch_to_ready_first_s_all={','.join(f'{t:.2f}' for t in first)}")


if __name__ == "__main__":
    main()
