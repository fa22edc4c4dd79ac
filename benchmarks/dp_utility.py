"""DP-FedAvg at epsilon 1, 3 and 8 against the same training without DP, on the fl_quality
sites (``benchmarks.fl_quality``: datasite.synth exports through the ingest pipeline, the IID
setting: three "balanced" sites).

Every run uses the same site task (``examples/tasks/dp_cnn.py``: group-norm CNN), the same
rounds, local epochs, optimiser and the real coordinator over in-memory sites; the DP runs
add Opacus' per-sample clipping and noise with the plan the researcher would declare at each
site (target epsilon over all rounds, delta 1/n). Scored on the pooled validation splits.

    .venv/bin/python -m benchmarks.dp_utility            # small: fits a shared 2-core box
    .venv/bin/python -m benchmarks.dp_utility --full     # the fl_quality sizes and rounds

Measured 2026-11-27, small, shared 2-core box: the group-norm dp_cnn stayed at chance even
WITHOUT DP (nondp_acc=0.527, auc 0.589 after 10 epochs), so the ratios say nothing about DP
utility yet; the DP model needs tuning (or ``--full``) before the 5-point target can be judged.

Prints ``nondp_acc=``, ``dp_acc_eps{1,3,8}=``, ``dp_acc_eps8_over_nondp=`` (and AUC), the
declared epsilons, and ``dp_time_ratio=`` (DP training wall time at epsilon 8 / non-DP).
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.fl_setup import CACHE, SIZE, Data, load_setting
from fedcommon.privacy import PrivacySettings
from researcher.config import ExperimentConfig, ModelConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights
from researcher.privacy import config_with_plan, plan_for
from researcher.task import SiteTask, load_task

TASK = Path(__file__).resolve().parents[1] / "examples" / "tasks" / "dp_cnn.py"
EPSILONS = (1.0, 3.0, 8.0)


@dataclass(frozen=True)
class Size:
    n_train: int  # per site, at most (the fl_quality sites hold 320 each)
    rounds: int
    local_epochs: int


SMALL, FULL = Size(10_000, 5, 2), Size(10_000, 10, 2)


def site(name: str, data: Data, config: dict[str, Any], task: SiteTask) -> InMemorySite:
    """An in-memory site running the task with its own constant config (with its plan)."""
    return InMemorySite(name, data["images"], data["labels"], data["val_images"],
                        data["val_labels"], config, task)  # fmt: skip


def experiment(size: Size, epsilon: float | None) -> ExperimentConfig:
    privacy = PrivacySettings(target_epsilon=epsilon, max_grad_norm=1.0) if epsilon else None
    return ExperimentConfig(
        name="dp_utility", dataset="synthetic", task=f"{TASK}:dp_cnn", privacy=privacy,
        model=ModelConfig(width=8, depth=4, image_size=SIZE, norm="group"),
        optimizer="adam", lr=2e-3, batch_size=32, rounds=size.rounds,
        local_epochs=size.local_epochs, spare_executions=0, min_sites=3,
    )  # fmt: skip


def run(parts: list[Data], exp: ExperimentConfig) -> tuple[dict[str, float], float, list[float]]:
    """(final global metrics, training wall seconds, declared epsilon per site)."""
    task = load_task(exp.task)
    plans = [plan_for(exp, len(p["labels"])) if exp.privacy else None for p in parts]
    sites = [site(f"s{i}", p, config_with_plan(exp, plans[i]), task) for i, p in enumerate(parts)]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        summary = Coordinator(sites, exp, Path(out)).run(initial_weights(exp.site_config(), task))
    declared = [p.epsilon for p in plans if p is not None]
    return summary["final_global_metrics"], time.perf_counter() - started, declared


def warm_up(parts: list[Data], size: Size) -> None:
    """One tiny DP and non-DP call first, so that neither timed run pays for imports."""
    tiny = shrink(parts, 16)[0]
    for epsilon in (None, 8.0):
        exp = experiment(Size(16, 1, 1), epsilon)
        config = config_with_plan(exp, plan_for(exp, 16) if epsilon else None)
        load_task(exp.task).fn(tiny, {}, "train", 1, config)


def shrink(parts: list[Data], n_train: int) -> list[Data]:
    return [{**p, "images": p["images"][:n_train], "labels": p["labels"][:n_train]}
            for p in parts]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="fl_quality sizes (slow on CPU)")
    size = FULL if parser.parse_args().full else SMALL
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    parts = shrink(load_setting("iid", n=400), size.n_train)
    mode = "full" if size is FULL else "SMALL (shared 2-core machine; --full: fl_quality sizes)"
    print(f"setup: {mode}: 3 iid sites x {len(parts[0]['labels'])} train images at "
          f"{SIZE}px, {size.rounds} rounds x {size.local_epochs} local epochs, dp_cnn "
          f"(group norm) Adam lr 2e-3 batch 32, clip 1.0, delta 1/n, rdp accountant; data "
          f"in {time.perf_counter() - started:.1f}s (cache {CACHE})")  # fmt: skip
    warm_up(parts, size)
    base, base_s, _ = run(parts, experiment(size, None))
    print(f"nondp_acc={base['accuracy']:.3f}\nnondp_auc={base['auc']:.3f}")
    print(f"nondp_train_seconds={base_s:.1f}")
    for epsilon in EPSILONS:
        got, seconds, declared = run(parts, experiment(size, epsilon))
        tag = f"eps{epsilon:g}"
        print(f"dp_acc_{tag}={got['accuracy']:.3f}\ndp_auc_{tag}={got['auc']:.3f}")
        print(f"dp_acc_{tag}_over_nondp={got['accuracy'] / base['accuracy']:.3f}")
        print(f"dp_auc_{tag}_over_nondp={got['auc'] / base['auc']:.3f}")
        print(f"dp_acc_{tag}_minus_nondp_points={100 * (got['accuracy'] - base['accuracy']):.1f}")
        print(f"dp_declared_epsilon_{tag}={max(declared):.3f}")
        print(f"dp_train_seconds_{tag}={seconds:.1f}")
        if epsilon == 8.0:
            print(f"dp_time_ratio={seconds / base_s:.2f}")
    print(f"wall_seconds={time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
