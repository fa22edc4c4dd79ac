"""The small sweep behind the default hyperparameters: FedAvg (with FedBN) on the sites of
``benchmarks.fl_setup`` for each combination of local lr and local epochs at a fixed total
number of epochs (rounds = epochs / local epochs), plus the server learning rates of FedAvgM
and FedAdam, and centralised training at each lr (the reference of the ratios). One line per
configuration, printed as it finishes; ``--jobs`` runs configurations in parallel processes.

    .venv/bin/python -m benchmarks.fl_sweep [--n 400] [--epochs 20] [--settings noniid]
        [--lr-schedule constant] [--seed 0] [--jobs 16]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from benchmarks import fl_setup
from benchmarks.fl_setup import alone, experiment, federated, pooled

LRS = (1e-3, 2e-3, 4e-3)
LOCAL_EPOCHS = (1, 2, 4)
SERVER = (("fedavgm", 0.5), ("fedavgm", 1.0), ("fedadam", 0.003), ("fedadam", 0.01),
          ("fedadam", 0.03), ("fedadam", 0.1))  # fmt: skip


def configurations(epochs: int) -> list[dict[str, Any]]:
    grid: list[dict[str, Any]] = [
        {"lr": lr, "local_epochs": local, "rounds": epochs // local}
        for lr, local in itertools.product(LRS, LOCAL_EPOCHS)
    ]
    base = {"lr": fl_setup.DEFAULTS["lr"], "local_epochs": 2, "rounds": epochs // 2}
    grid += [{**base, "algorithm": a, "server_lr": s} for a, s in SERVER]
    grid += [{"lr": lr, "local_epochs": epochs, "rounds": 1, "central": True} for lr in LRS]
    return grid


def label(cfg: dict[str, Any]) -> str:
    name = "central" if cfg.get("central") else cfg.get("algorithm", "fedavg")
    server = name + (f"(server_lr={cfg['server_lr']:g})" if "server_lr" in cfg else "")
    return (f"{server:24s} lr={cfg['lr']:<7g} local_epochs={cfg['local_epochs']:<2d} "
            f"rounds={cfg['rounds']:<3d}")  # fmt: skip


def run_one(setting: str, cfg: dict[str, Any]) -> str:
    started = time.perf_counter()
    parts = DATA[setting]
    settings = {k: v for k, v in cfg.items() if k != "central"}
    if cfg.get("central"):
        everything = pooled(parts)
        exp = experiment(**settings)
        curve = [alone(everything, everything, exp, exp.local_epochs)]
    else:
        curve = federated(parts, experiment(**settings))
    best = max(s["accuracy"] for s in curve)
    return (f"{setting:6s} {label(cfg)} acc={curve[-1]['accuracy']:.3f} "
            f"auc={curve[-1]['auc']:.3f} best_round_acc={best:.3f} "
            f"({time.perf_counter() - started:.0f}s)")  # fmt: skip


DATA: dict[str, list[fl_setup.Data]] = {}


def main() -> None:
    parser = argparse.ArgumentParser(prog="fl_sweep", description=__doc__)
    parser.add_argument("--n", type=int, default=400, help="DICOM files per site")
    parser.add_argument("--epochs", type=int, default=20, help="total epochs per run")
    parser.add_argument("--settings", default="noniid", help=",".join(fl_setup.SETTINGS))
    parser.add_argument("--size", type=int, default=fl_setup.SIZE, help="ingested image px")
    parser.add_argument("--only", type=int, nargs="*", help="configuration indices to run")
    parser.add_argument("--jobs", type=int, default=1, help="configurations in parallel")
    parser.add_argument("--seed", type=int, default=0, help="model init and batch order")
    parser.add_argument("--lr-schedule", default=fl_setup.DEFAULTS["lr_schedule"])
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    fl_setup.SIZE = args.size
    fl_setup.DEFAULTS["seed"] = args.seed
    fl_setup.DEFAULTS["lr_schedule"] = args.lr_schedule
    settings = args.settings.split(",")
    DATA.update({s: fl_setup.load_setting(s, args.n) for s in settings})
    print(f"sweep: {settings}, seed {args.seed}, {args.lr_schedule} lr, 3 sites x {args.n} "
          f"files at {args.size}px, "
          f"{args.epochs} epochs per run, FedBN on; accuracy / AUC on the pooled validation splits",
          flush=True)  # fmt: skip
    todo = [
        (setting, index, cfg)
        for setting in settings
        for index, cfg in enumerate(configurations(args.epochs))
        if not args.only or index in args.only
    ]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max(args.jobs, 1), mp_context=context) as pool:
        futures = {pool.submit(run_one, s, cfg): i for s, i, cfg in todo}
        for future in as_completed(futures):
            print(f"[{futures[future]:2d}] {future.result()}", flush=True)


if __name__ == "__main__":
    main()
