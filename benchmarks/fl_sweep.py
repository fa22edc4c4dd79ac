"""The small sweep behind the default hyperparameters: FedAvg (with FedBN) on the non-IID
sites of ``benchmarks.fl_setup`` for each combination of lr, local epochs and head
(``pool_grid``) at a fixed total number of epochs, plus the server learning rates of
FedAvgM and FedAdam. One line per configuration, printed as it finishes.

    .venv/bin/python -m benchmarks.fl_sweep [--n 200] [--epochs 10] [--setting noniid]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from typing import Any

from benchmarks import fl_setup
from benchmarks.fl_setup import experiment, federated

LRS = (5e-4, 1e-3, 2e-3)
LOCAL_EPOCHS = (1, 2)
GRIDS = (1, 2)
SERVER = (("fedavgm", 0.5), ("fedavgm", 1.0), ("fedadam", 0.003), ("fedadam", 0.01))


def configurations(epochs: int) -> list[dict[str, Any]]:
    grid = [
        {"lr": lr, "local_epochs": local, "rounds": epochs // local, "model": {"pool_grid": g}}
        for lr, local, g in itertools.product(LRS, LOCAL_EPOCHS, GRIDS)
    ]
    base = {"lr": 1e-3, "local_epochs": 2, "rounds": epochs // 2, "model": {"pool_grid": 2}}
    grid += [{**base, "algorithm": a, "server_lr": s} for a, s in SERVER]
    return grid


def label(cfg: dict[str, Any]) -> str:
    server = f"{cfg.get('algorithm', 'fedavg')}" + (
        f"(server_lr={cfg['server_lr']:g})" if "server_lr" in cfg else ""
    )
    return (f"{server:24s} lr={cfg['lr']:<7g} local_epochs={cfg['local_epochs']} "
            f"rounds={cfg['rounds']:<3d} pool_grid={cfg['model']['pool_grid']}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(prog="fl_sweep", description=__doc__)
    parser.add_argument("--n", type=int, default=200, help="DICOM files per site")
    parser.add_argument("--epochs", type=int, default=10, help="total epochs per run")
    parser.add_argument("--setting", default="noniid", choices=sorted(fl_setup.SETTINGS))
    parser.add_argument("--size", type=int, default=fl_setup.SIZE, help="ingested image px")
    parser.add_argument("--only", type=int, nargs="*", help="configuration indices to run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    fl_setup.SIZE = args.size
    parts = fl_setup.load_setting(args.setting, args.n)
    print(f"sweep: {args.setting}, 3 sites x {args.n} files at {args.size}px, {args.epochs} "
          "epochs per run, FedBN on; accuracy / AUC on the pooled validation splits",
          flush=True)  # fmt: skip
    for index, cfg in enumerate(configurations(args.epochs)):
        if args.only and index not in args.only:
            continue
        started = time.perf_counter()
        curve = federated(parts, experiment(**cfg))
        best = max(s["accuracy"] for s in curve)
        print(f"[{index:2d}] {label(cfg)} acc={curve[-1]['accuracy']:.3f} "
              f"auc={curve[-1]['auc']:.3f} best_round_acc={best:.3f} "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
