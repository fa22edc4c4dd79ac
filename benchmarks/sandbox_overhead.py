"""What the sealed worker costs: the same call in-process vs in the bubblewrap sandbox.

- ``sandbox_fixed_cost_s``: median of a no-op call, sealed minus in-process (fork, pipes,
  wire format, cleanup).
- ``sandbox_overhead_ratio``: sealed / in-process wall time of a training call of the real
  site function (the built-in CNN task inside the wrapper a site runs, with its declared
  output schema) of a few seconds, inputs included.
- ``release_check_s`` (schema, counts and copy check, what every output passes) and, within
  it, ``copy_check_s``, against the call's private images and labels.

    .venv/bin/python -m benchmarks.sandbox_overhead [--small]
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from datasite.sandbox.copycheck import find_copy
from datasite.sandbox.release import check_release, declared_in
from datasite.sandbox.runner import Sandbox
from datasite.sandbox.verdict import Limits, Verdict
from fedcommon.task_schema import SCHEMA_ARGUMENT, OutputSchema
from researcher.config import DEFAULT_INPUTS, ExperimentConfig, ModelConfig
from researcher.task import load_task, site_source
from researcher.toydata import site_split

NOOP = "def noop():\n    return {'n': 1}\n"
FUNCTION = "bench_step"


def training_call(small: bool) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(the site function's source, kwargs of one training call, the private assets)."""
    size, n_train, epochs = (32, 128, 1) if small else (64, 1024, 2)  # full: a few seconds
    model = ModelConfig(width=16, depth=3, image_size=size)
    exp = ExperimentConfig(name="bench", dataset="bench", model=model, rounds=1,
                           local_epochs=epochs, lr=0.003, batch_size=32)  # fmt: skip
    task = load_task("")
    data = site_split(n_train, 64, size, seed=1)
    data = {k: v[:, None] if v.ndim == 3 else v for k, v in data.items()}  # N x 1 x H x W
    config = exp.site_config()
    init = task.fn(data, {}, "init", 0, config)
    schema = OutputSchema.derive(init["weights"], {"loss", "accuracy", "auc", "train_loss"})
    kwargs = {**data, "weights": init["weights"], "task": "train", "round_index": 1,
              "config": config, SCHEMA_ARGUMENT: schema.model_dump(mode="json")}  # fmt: skip
    return site_source(task, FUNCTION, [str(i) for i in DEFAULT_INPUTS]), kwargs, data


def in_process(source: str, name: str) -> Callable[[dict[str, Any]], Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "request.py", "exec"), namespace)
    return lambda kwargs: namespace[name](**kwargs)


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    return interleaved([call], repeats)[0]


def interleaved(calls: list[Callable[[], Any]], repeats: int) -> list[tuple[float, Any]]:
    """Median wall time and last result of each call, run in turn (fair on a busy machine)."""
    times: list[list[float]] = [[] for _ in calls]
    results: list[Any] = [None] * len(calls)
    for _ in range(repeats):
        for index, call in enumerate(calls):
            started = time.perf_counter()
            results[index] = call()
            times[index].append(time.perf_counter() - started)
    return [(statistics.median(t), r) for t, r in zip(times, results, strict=True)]


def main() -> None:
    small = "--small" in sys.argv
    source, kwargs, private = training_call(small)
    started = time.perf_counter()
    with Sandbox(Limits(memory_mb=4096, wall_s=600, cpu_s=1200)) as box:
        print(f"sandbox_start_s={time.perf_counter() - started:.2f}")
        noop = in_process(NOOP, "noop")
        (local_noop, _), (sealed_noop, _) = interleaved(
            [lambda: noop({}), lambda: box.run(NOOP, "noop", {})], 20
        )
        print(f"sandbox_fixed_cost_s={sealed_noop - local_noop:.3f}")
        train = in_process(source, FUNCTION)
        (local_s, local_out), (sealed_s, sealed) = interleaved(
            [lambda: train(kwargs), lambda: box.run(source, FUNCTION, kwargs)],
            3 if small else 5,
        )
    assert sealed.verdict is Verdict.OK, sealed
    print(f"note=training call on {len(kwargs['labels'])} images of "
          f"{kwargs['images'].shape[-1]}px{' (small run)' if small else ''}")  # fmt: skip
    print(f"train_in_process_s={local_s:.2f}")
    print(f"train_sealed_s={sealed_s:.2f}")
    print(f"sandbox_overhead_ratio={sealed_s / local_s:.3f}")
    print(f"sealed_peak_memory_mb={(sealed.peak_rss_bytes or 0) / 2**20:.0f}")
    declared = declared_in(kwargs)
    release_s, refusal = timed(lambda: check_release(sealed.value, declared, kwargs, private), 5)
    copy_s, copied = timed(lambda: find_copy(sealed.value, private), 5)
    assert refusal is None and copied is None, (refusal, copied)
    assert local_out["n_samples"] == sealed.value["n_samples"]
    print(f"release_check_s={release_s:.4f}")
    print(f"copy_check_s={copy_s:.4f}")
    print(f"copy_check_private_values={sum(int(np.size(v)) for v in private.values())}")


if __name__ == "__main__":
    main()
