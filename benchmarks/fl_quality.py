"""Federated vs centralised vs each site alone on generated hospital exports, IID and non-IID.

Data and runners: ``benchmarks.fl_setup`` (datasite.synth exports through the real ingestion
pipeline, the real site function and coordinator over in-memory sites). Every method is
scored on the pooled validation splits of the three sites.

- At equal epochs: every method gets ``rounds x local_epochs`` epochs in total.
- At convergence: FedAvg runs ``--converge`` times as many rounds and centralised training
  as many epochs; ``fedavg_rounds_to_95_<setting>`` is the first round at which FedAvg
  reaches 95% of the converged centralised accuracy.
- ``central_restart``: centralised training whose Adam state restarts every
  ``local_epochs`` (what a site's optimiser does every round): isolates that suspect.
- ``fedavg_nofedbn``: FedAvg averaging the batch-norm layers too (the old behaviour).

    .venv/bin/python -m benchmarks.fl_quality [--n 400] [--rounds 10] [--converge 3]
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

from benchmarks import fl_setup
from benchmarks.fl_setup import Data, alone, experiment, federated, pooled

Scores = dict[str, dict[str, float]]  # method -> {"accuracy", "auc"}
FEDPROX_MU = 0.01
FULL_N = 400
ALL_METHODS = ("fedavg", "fedavg_nofedbn", "fedavgm", "fedadam", "fedprox")
SKIP: set[str] = set()  # methods left out by --methods


def federated_methods(setting: str) -> dict[str, dict[str, Any]]:
    """Federated method name -> experiment overrides."""
    methods: dict[str, dict[str, Any]] = {
        "fedavg": {},
        "fedavg_nofedbn": {"fedbn": False},
        "fedavgm": {"algorithm": "fedavgm"},
        "fedadam": {"algorithm": "fedadam"},
    }
    if setting == "noniid":
        methods["fedprox"] = {"algorithm": "fedprox", "mu": FEDPROX_MU}
    return {name: overrides for name, overrides in methods.items() if name not in SKIP}


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.3f}" if reference > 0 else "nan"


def print_scores(setting: str, results: Scores) -> None:
    central = results["central"]
    for method, got in results.items():
        base, suffix = method, f"_{setting}"
        if method.startswith("local_only_"):
            base, suffix = "local_only", f"_{setting}_{method.removeprefix('local_only_')}"
        print(f"{base}_acc{suffix}={got['accuracy']:.3f}")
        print(f"{base}_auc{suffix}={got['auc']:.3f}")
        if method != "central":
            print(f"{base}_over_central{suffix}={ratio(got['accuracy'], central['accuracy'])}")
            print(f"{base}_auc_over_central{suffix}={ratio(got['auc'], central['auc'])}")


def run_setting(setting: str, parts: list[Data], converge: int) -> Scores:
    """Train every method for one setting and print its key=value lines."""
    exp, everything = experiment(), pooled(parts)
    epochs = exp.rounds * exp.local_epochs
    results: Scores = {"central": alone(everything, everything, exp, epochs)}
    results["central_restart"] = alone(everything, everything, exp, epochs, exp.local_epochs)
    curves = {}
    for method, overrides in federated_methods(setting).items():
        curves[method] = federated(parts, experiment(**overrides))
        results[method] = curves[method][-1]
    for index, part in enumerate(parts):
        results[f"local_only_site{index}"] = alone(part, everything, exp, epochs)
    print_scores(setting, results)
    fed = [m for m in federated_methods(setting) if m != "fedavg_nofedbn"]
    best = max(fed, key=lambda m: results[m]["accuracy"])
    print(f"best_federated_{setting}={best}")
    print(f"best_federated_over_central_{setting}="
          f"{ratio(results[best]['accuracy'], results['central']['accuracy'])}")  # fmt: skip
    locals_ = [v for k, v in results.items() if k.startswith("local_only_")]
    for metric, short in (("accuracy", "acc"), ("auc", "auc")) if "fedavg" in results else ():
        above = all(results["fedavg"][metric] > site[metric] for site in locals_)
        print(f"fedavg_above_every_site_{short}_{setting}={above}")
    if converge > 1:
        convergence(setting, parts, everything, converge)
    return results


def convergence(setting: str, parts: list[Data], everything: Data, times: int) -> None:
    """FedAvg and centralised training ``times`` longer; rounds FedAvg needs for 95%."""
    base = experiment()
    exp = experiment(rounds=base.rounds * times)
    central = alone(everything, everything, exp, exp.rounds * exp.local_epochs)
    curve = federated(parts, exp)
    print(f"central_acc_converged_{setting}={central['accuracy']:.3f}")
    print(f"fedavg_acc_converged_{setting}={curve[-1]['accuracy']:.3f}")
    print(f"fedavg_over_central_converged_{setting}="
          f"{ratio(curve[-1]['accuracy'], central['accuracy'])}")  # fmt: skip
    target = 0.95 * central["accuracy"]
    reached = next((i + 1 for i, s in enumerate(curve) if s["accuracy"] >= target), None)
    print(f"fedavg_rounds_to_95_{setting}={reached if reached else f'>{exp.rounds}'}")
    print(f"fedavg_curve_{setting}=" + ",".join(f"{s['accuracy']:.3f}" for s in curve))


def describe(setting: str, parts: list[Data]) -> str:
    sites = ", ".join(
        f"{shift} p={prevalence} {len(p['labels'])}+{len(p['val_labels'])} "
        f"({p['labels'].mean():.2f} pos)"
        for (shift, prevalence, _), p in zip(fl_setup.SETTINGS[setting], parts, strict=True)
    )
    return f"data_{setting}: datasite.synth -> ingest pipeline, train+val per site: {sites}"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fl_quality", description=__doc__)
    parser.add_argument("--n", type=int, default=FULL_N, help="DICOM files per site")
    parser.add_argument("--rounds", type=int, default=fl_setup.DEFAULTS["rounds"])
    parser.add_argument("--converge", type=int, default=3, help="rounds multiple; 1 = skip")
    parser.add_argument("--settings", default="iid,noniid")
    parser.add_argument("--lr", type=float, default=fl_setup.DEFAULTS["lr"], help="local lr")
    parser.add_argument("--methods", default="", help="federated methods to run; empty = all")
    parser.add_argument("--size", type=int, default=fl_setup.SIZE, help="ingested image px")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.ERROR)
    fl_setup.DEFAULTS["rounds"] = args.rounds
    fl_setup.SIZE = args.size
    fl_setup.DEFAULTS["lr"] = args.lr
    SKIP.update(m for m in ALL_METHODS if args.methods and m not in args.methods.split(","))
    started = time.perf_counter()
    settings = args.settings.split(",")
    data = {setting: fl_setup.load_setting(setting, args.n) for setting in settings}
    exp = experiment()
    print(f"setup: 3 sites x {args.n} DICOM files per setting at {args.size}px; "
          f"model {exp.model.model_dump()}; {exp.optimizer} lr {exp.lr}, batch {exp.batch_size}; "
          f"{exp.rounds} rounds x {exp.local_epochs} local epochs = "
          f"{exp.rounds * exp.local_epochs} epochs for every method; fedbn {exp.fedbn}; "
          f"data ready in {time.perf_counter() - started:.1f}s")  # fmt: skip
    if args.n < FULL_N or args.size < fl_setup.SIZE_DEFAULT:
        print(f"note: ran small (--n {args.n}, --size {args.size}); figures are noisier")
    for setting, parts in data.items():
        print(describe(setting, parts))
        run_setting(setting, parts, args.converge)
    print(f"wall_seconds={time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
