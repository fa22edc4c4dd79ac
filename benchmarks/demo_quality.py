"""The demo's closing table in memory: FedAvg against each hospital trained alone, on the
demo's three hospitals (``benchmarks.fl_setup`` setting "demo": the presets and seeds of
``demo/steps.py``) with the demo's experiment, through the real coordinator and site task.
Each row compares, on that hospital's own validation split, the federated model (with
FedBN: that hospital's own normalisation layers) with the same model trained there alone
(by default for the same epochs and lr schedule in one call, as the demo does); the pooled
AUC is the global one of the federated run.

    .venv/bin/python -m benchmarks.demo_quality [--rounds 10] [--lr 3e-3] [--lr-schedule cosine]
        [--alone one-call|rounds] [--size 32] [--algorithm fedavgm]

The defaults are the demo's (``python -m demo``); the splits are the demo's own (its site
names and pseudonym keys, ``fl_setup.identity``) and torch uses one thread as the demo's
sites do, so the table should be the demo's. ``--algorithm`` changes the federated run's
algorithm only (the demo's is FedAvg: at its 10 short rounds FedAvgM scored below each
hospital alone, see README).
"""

from __future__ import annotations

import argparse
import csv
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from benchmarks import fl_setup
from benchmarks.fl_setup import Data, experiment
from demo.steps import ALGORITHM as DEMO_ALGORITHM
from demo.steps import HOSPITALS, LOCAL_EPOCHS, LR, ROUNDS, SIZE
from researcher.config import ExperimentConfig
from researcher.coordinator import Coordinator
from researcher.inmemory import InMemorySite, initial_weights


def last_rows(parts: dict[str, Data], exp: ExperimentConfig) -> dict[str, dict[str, str]]:
    """The final evaluation row of every site and of "global" (the coordinator's metrics)."""
    sites = [InMemorySite(name, **p, config=exp.site_config()) for name, p in parts.items()]
    with tempfile.TemporaryDirectory() as out:
        Coordinator(sites, exp, Path(out)).run(initial_weights(exp.site_config()))
        with (Path(out) / "metrics.csv").open(newline="") as handle:
            rows = [r for r in csv.DictReader(handle) if r["phase"] == "evaluate"]
    return {row["site"]: row for row in rows}


def main() -> None:
    parser = argparse.ArgumentParser(prog="demo_quality", description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="DICOM files per hospital")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--local-epochs", type=int, default=LOCAL_EPOCHS)
    parser.add_argument("--lr", type=float, default=LR)
    parser.add_argument("--lr-schedule", default="cosine")
    parser.add_argument("--algorithm", default=DEMO_ALGORITHM, help="the federated run's")
    parser.add_argument("--size", type=int, default=SIZE, help="ingested image px")
    parser.add_argument(
        "--alone", choices=("one-call", "rounds"), default="one-call",
        help="site-alone baseline: all epochs in one call (the demo's), or the same rounds",
    )  # fmt: skip
    args = parser.parse_args()
    fl_setup.SIZE = args.size
    torch.set_num_threads(1)  # as the demo's sites (OMP_NUM_THREADS=1)
    logging.basicConfig(level=logging.ERROR)
    started = time.perf_counter()
    names = [h.name for h in HOSPITALS]
    parts = dict(zip(names, fl_setup.load_setting("demo", args.n), strict=True))
    settings: dict[str, Any] = {"rounds": args.rounds, "local_epochs": args.local_epochs,
                                "lr": args.lr, "lr_schedule": args.lr_schedule}  # fmt: skip
    fed = last_rows(parts, experiment(**settings, algorithm=args.algorithm))
    wins = 0
    # Each hospital alone: the same epochs and lr schedule in one call (as the demo runs it).
    epochs = args.rounds * args.local_epochs
    alone_settings = {**settings, "rounds": 1, "local_epochs": epochs, "min_sites": 1}
    if args.alone == "rounds":  # the older baseline: the same rounds, Adam restarted each one
        alone_settings = {**settings, "min_sites": 1}
    for name, part in parts.items():
        alone = last_rows({name: part}, experiment(**alone_settings))[name]
        wins += float(fed[name]["auc"]) > float(alone["auc"])
        print(f"demo_{name}: {args.algorithm} acc={float(fed[name]['accuracy']):.3f} "
              f"auc={float(fed[name]['auc']):.3f}  alone acc={float(alone['accuracy']):.3f} "
              f"auc={float(alone['auc']):.3f}")  # fmt: skip
    print(f"demo_global_auc={float(fed['global']['auc']):.3f} "
          f"demo_global_acc={float(fed['global']['accuracy']):.3f}")  # fmt: skip
    print(f"demo_{args.algorithm}_beats_every_site_auc={wins == len(parts)}")
    wall = time.perf_counter() - started
    print(f"settings={settings} algorithm={args.algorithm} wall_seconds={wall:.0f}")


if __name__ == "__main__":
    main()
