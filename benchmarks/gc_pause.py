"""A full garbage collection in a process with a datasite's imports, before and after
``gc.freeze`` (what ``datasite.syftio.server.startup.settle_heap`` does once torch is loaded).

Python runs such a pass every so often on its own, in whichever thread allocates: in a site
it lands inside whatever request is running. Prints medians of 5 passes each.

    .venv/bin/python -m benchmarks.gc_pause
"""

from __future__ import annotations

import gc
import statistics
import time


def full_pass_s(runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        gc.collect()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    import syft  # noqa: F401 - the imports a site holds
    import torch  # noqa: F401

    tracked = len(gc.get_objects())
    before = full_pass_s()
    gc.freeze()
    after = full_pass_s()
    gc.unfreeze()
    print(f"tracked_objects={tracked}")
    print(f"full_gc_s_unfrozen={before:.3f}")
    print(f"full_gc_s_frozen={after:.6f}")
    print(f"full_gc_frozen_over_unfrozen={after / before:.4f}")


if __name__ == "__main__":
    main()
