"""Federated vs centralised vs each site alone on generated hospital exports, IID and non-IID.

Data and runners: ``benchmarks.fl_setup`` (datasite.synth exports through the real ingestion
pipeline, the real site function and coordinator over in-memory sites). Every method is
scored on the pooled validation data of the three sites (below).

- At equal epochs: every method gets ``rounds x local_epochs`` epochs in total (default
  30 x 2 with a cosine lr, where both FedAvg and centralised training have converged: see
  ``fl_setup.DEFAULTS``); ``fedavg_rounds_to_95_<setting>`` is the first round at which FedAvg
  reaches 95% of the centralised accuracy.
- ``--converge K``: FedAvg also runs K times as many rounds and centralised training as many
  epochs; the rounds to 95% are then counted against that longer centralised run.
- ``central_restart``: centralised training whose Adam state restarts every
  ``local_epochs`` (what a site's optimiser does every round): isolates that suspect.
- ``fedavg_nofedbn``: FedAvg averaging the batch-norm layers too (the old behaviour).
- ``--seeds 0,1,2``: every run once per seed (model init and batch order), then
  ``mean_<figure>`` lines: the mean over the seeds, each seed's value after it.
- Scored on 1440 validation images (``--test-n 400`` held-out files per site plus the sites'
  validation splits; ``fl_setup``): one standard error of the accuracy ratio is ~0.012.

    .venv/bin/python -m benchmarks.fl_quality [--n 400] [--rounds 30] [--seeds 0] [--jobs 1]

At the default size this is about 900 epochs of 960 images per seed (plus the data, generated
once): with ``--jobs 2`` on a 2-core machine ~25 minutes per setting and seed for every method,
~14 with ``--methods fedavg,fedavgm``; about 4 times faster with ``--jobs 16``.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

import numpy as np

from benchmarks import fl_setup
from benchmarks.fl_setup import Data, alone, experiment, federated, pooled

Scores = dict[str, dict[str, float]]  # method -> {"accuracy", "auc"}
FEDPROX_MU = 0.01
FULL_N = 400
ALL_METHODS = ("fedavg", "fedavg_nofedbn", "fedavgm", "fedadam", "fedprox", "central_restart")
SKIP: set[str] = set()  # methods left out by --methods
TEST_N = 400  # held-out files per site scored with the validation splits


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


Job = tuple[Callable[..., Any], tuple[Any, ...]]


def jobs_for(setting: str, parts: list[Data], converge: int, seed: int) -> dict[str, Job]:
    """Every training run of one setting and seed: name -> (function, arguments)."""
    exp, everything = experiment(seed=seed), pooled(parts)
    epochs = exp.rounds * exp.local_epochs
    jobs: dict[str, Job] = {}
    if converge > 1:
        long = experiment(seed=seed, rounds=exp.rounds * converge)
        jobs["central_converged"] = (alone, (everything, everything, long, epochs * converge))
        jobs["fedavg_converged"] = (federated, (parts, long))
    jobs["central"] = (alone, (everything, everything, exp, epochs))
    if "central_restart" not in SKIP:
        restart = (everything, everything, exp, epochs, exp.local_epochs)
        jobs["central_restart"] = (alone, restart)
    for method, overrides in federated_methods(setting).items():
        jobs[method] = (federated, (parts, experiment(seed=seed, **overrides)))
    for index, part in enumerate(parts):
        jobs[f"local_only_site{index}"] = (alone, (part, everything, exp, epochs))
    return jobs


def run_jobs(jobs: dict[Any, Job], workers: int) -> dict[Any, Any]:
    """Run the jobs, ``workers`` processes at a time (forked: the data are shared)."""
    if workers <= 1:
        return {name: function(*args) for name, (function, args) in jobs.items()}
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {pool.submit(function, *args): name for name, (function, args) in jobs.items()}
        done = {}
        for future in as_completed(futures):
            done[futures[future]] = future.result()
            print(f"done {futures[future]}", file=sys.stderr, flush=True)
        return done


def report_setting(setting: str, done: dict[str, Any]) -> Scores:
    """Print one setting's key=value lines from its finished jobs; return its scores."""
    results: Scores = {k: done[k] for k in ("central", "central_restart") if k in done}
    results |= {m: done[m][-1] for m in federated_methods(setting)}
    results |= {k: v for k, v in done.items() if k.startswith("local_only_")}
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
    if "fedavg_converged" in done:
        convergence(setting, done["central_converged"], done["fedavg_converged"])
    elif "fedavg" in done:
        rounds_to_95(setting, done["central"], done["fedavg"])
    return results


def over_central(run: Scores, method: str, metric: str = "accuracy") -> float:
    """``method``'s score over centralised training's; nan where that is 0 (as ``ratio``)."""
    reference = run["central"][metric]
    return run[method][metric] / reference if reference > 0 else float("nan")


def above_best_site(run: Scores, metric: str) -> float:
    """FedAvg's score minus the best site-alone score (> 0: FedAvg beats every site)."""
    sites = [score[metric] for name, score in run.items() if name.startswith("local_only_")]
    return run["fedavg"][metric] - max(sites)


def report_means(setting: str, seeds: list[int], runs: list[Scores]) -> None:
    """``mean_*`` lines: each figure's mean over the seeds, then each seed's value."""

    def line(name: str, values: list[float]) -> None:
        each = "/".join(f"{v:.3f}" for v in values)
        print(f"mean_{name}_{setting}={np.mean(values):.3f} (seeds {seeds}: {each})")

    for method in [m for m in runs[0] if m != "central"]:
        line(f"{method}_over_central", [over_central(r, method) for r in runs])
        line(f"{method}_auc_over_central", [over_central(r, method, "auc") for r in runs])
    fed = [m for m in federated_methods(setting) if m != "fedavg_nofedbn"]
    mean_of = {m: float(np.mean([over_central(r, m) for r in runs])) for m in fed}
    if mean_of:
        best = max(mean_of, key=lambda m: mean_of[m])
        print(f"mean_best_federated_{setting}={best}")
        print(f"mean_best_federated_over_central_{setting}={mean_of[best]:.3f}")
    if "fedavg" in runs[0]:
        line("fedavg_acc_minus_best_site", [above_best_site(r, "accuracy") for r in runs])
        line("fedavg_auc_minus_best_site", [above_best_site(r, "auc") for r in runs])


def convergence(setting: str, central: dict[str, float], curve: list[dict[str, float]]) -> None:
    """FedAvg and centralised training ``--converge`` times longer; rounds FedAvg needs for
    95% of the converged centralised accuracy."""
    print(f"central_acc_converged_{setting}={central['accuracy']:.3f}")
    print(f"fedavg_acc_converged_{setting}={curve[-1]['accuracy']:.3f}")
    print(f"fedavg_over_central_converged_{setting}="
          f"{ratio(curve[-1]['accuracy'], central['accuracy'])}")  # fmt: skip
    rounds_to_95(setting, central, curve)


def rounds_to_95(setting: str, central: dict[str, float], curve: list[dict[str, float]]) -> None:
    target = 0.95 * central["accuracy"]
    reached = next((i + 1 for i, s in enumerate(curve) if s["accuracy"] >= target), None)
    print(f"fedavg_rounds_to_95_{setting}={reached if reached else f'>{len(curve)}'}")
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
    parser.add_argument("--converge", type=int, default=1, help="rounds multiple; 1 = skip")
    parser.add_argument("--settings", default="iid,noniid")
    parser.add_argument("--lr", type=float, default=fl_setup.DEFAULTS["lr"], help="local lr")
    parser.add_argument("--local-epochs", type=int, default=fl_setup.DEFAULTS["local_epochs"])
    parser.add_argument("--seeds", default="0", help="model init and batch order, e.g. 0,1,2")
    parser.add_argument("--test-n", type=int, default=TEST_N, help="held-out files per site")
    parser.add_argument("--batch-size", type=int, default=fl_setup.DEFAULTS["batch_size"])
    parser.add_argument("--lr-schedule", default=fl_setup.DEFAULTS["lr_schedule"])
    parser.add_argument("--methods", default="", help="federated methods to run; empty = all")
    parser.add_argument("--size", type=int, default=fl_setup.SIZE, help="ingested image px")
    parser.add_argument("--jobs", type=int, default=1, help="training runs in parallel")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    logging.basicConfig(level=logging.ERROR)
    fl_setup.DEFAULTS["rounds"] = args.rounds
    fl_setup.SIZE = args.size
    fl_setup.DEFAULTS["lr"] = args.lr
    fl_setup.DEFAULTS["local_epochs"] = args.local_epochs
    fl_setup.DEFAULTS["batch_size"] = args.batch_size
    fl_setup.DEFAULTS["lr_schedule"] = args.lr_schedule
    SKIP.update(m for m in ALL_METHODS if args.methods and m not in args.methods.split(","))
    started = time.perf_counter()
    settings = args.settings.split(",")
    seeds = [int(seed) for seed in args.seeds.split(",")]
    data = {setting: fl_setup.load_setting(setting, args.n, args.test_n) for setting in settings}
    exp = experiment()
    print(f"setup: 3 sites x {args.n} DICOM files per setting at {args.size}px "
          f"(+{args.test_n} held-out for validation); seeds {seeds}; "
          f"model {exp.model.model_dump()}; {exp.optimizer} lr {exp.lr} ({exp.lr_schedule}), "
          f"batch {exp.batch_size}; "
          f"{exp.rounds} rounds x {exp.local_epochs} local epochs = "
          f"{exp.rounds * exp.local_epochs} epochs for every method; fedbn {exp.fedbn}; "
          f"data ready in {time.perf_counter() - started:.1f}s")  # fmt: skip
    if args.n < FULL_N or args.size < fl_setup.SIZE_DEFAULT:
        print(f"note: ran small (--n {args.n}, --size {args.size}); figures are noisier")
    jobs = {
        (s, seed, name): job
        for s, p in data.items()
        for seed in seeds
        for name, job in jobs_for(s, p, args.converge, seed).items()
    }
    # The longest first, so that parallel workers finish together.
    jobs = dict(sorted(jobs.items(), key=lambda item: "converged" not in item[0][2]))
    done = run_jobs(jobs, args.jobs)
    for setting, parts in data.items():
        print(describe(setting, parts))
        runs = []
        for seed in seeds:
            print(f"seed={seed}")
            of_run = {name: v for (s, sd, name), v in done.items() if (s, sd) == (setting, seed)}
            runs.append(report_setting(setting, of_run))
        if len(seeds) > 1:
            report_means(setting, seeds, runs)
    print(f"wall_seconds={time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
