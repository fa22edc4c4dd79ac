"""Per-round wall time vs the slowest site's compute measured inside the site function.

Real datasites on loopback (``datasite launch``), a researcher account, generated data, the
real submit / approve / train path; 1, 2 and 3 sites. The ratio is wall / slowest compute per
round (1.0 = no platform overhead), averaged over the rounds. ``store_growth_mb_per_round``:
how much the sites' stores (database + blob files) grew per round of the 3-site run.

The overhead is a roughly fixed cost per call (syft's requests, store reads and writes, the
sandbox, the egress check, the audit), so the ratio depends on how long a site computes: the
3-site run is repeated with 4x the training images per site (``..._sites3_large``) to show it
at a longer round. Each run's first call and its final evaluate cost more than the rounds
between them (the first call initialises the function's state at the site; the final evaluate
is a whole call for little compute), and with 3 rounds they weigh a third each: the last run,
3 sites over 6 rounds, prints its ratio and the steady one (rounds 2-5).

``site_cpu_per_call_s``: the CPU seconds each site's own process spends per call (request
handling, store, audit, pruning; not the sandbox that runs the code), averaged over the sites.
On a shared two-core machine the wall-time ratio moves by +-0.05 between runs; this figure
is steadier, so it is the one to compare when a change to the call path is measured.

    .venv/bin/python -m benchmarks.round_overhead
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from datasite.config import AdminCredentials
from datasite.syftio.client import add_user, admin_login, upload_dataset
from fedcommon.roles import Role
from lab.process import SiteProcess
from researcher import api
from researcher.config import ExperimentConfig, ModelConfig, SiteConfig, SitesConfig
from researcher.syftio import code
from researcher.toydata import site_split

ADMIN = AdminCredentials(email="admin@bench.example", password="benchmark-admin-pw-1")
EMAIL, PASSWORD = "bench@uni.example", "benchmark-researcher-1"
SIZE, N_TRAIN, N_VAL, ROUNDS = 64, 256, 64, 3
LARGE = 4  # the large run's training images per site: LARGE * N_TRAIN
LONGER = 6  # rounds of the last run
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def experiment(n_sites: int, dataset: str = "bench", rounds: int = ROUNDS) -> ExperimentConfig:
    model = ModelConfig(width=16, depth=3, image_size=SIZE)
    return ExperimentConfig(
        name=f"overhead_{n_sites}_{dataset}_{rounds}", dataset=dataset, model=model, rounds=rounds,
        local_epochs=2, lr=0.003, batch_size=32, min_sites=n_sites, spare_executions=0,
        fedbn=False,  # plain FedAvg, as Flower's side of benchmarks.vs_flower runs
    )  # fmt: skip


def prepare(site: SiteProcess, index: int) -> None:
    admin = admin_login(site.url, ADMIN)
    add_user(admin, EMAIL, "Bench", PASSWORD, Role.RESEARCHER)
    mock = site_split(16, 8, SIZE, 50 + index)
    for name, n_train in (("bench", N_TRAIN), ("bench_large", LARGE * N_TRAIN)):
        private = site_split(n_train, N_VAL, SIZE, index)
        upload_dataset(admin, name, "generated", {k: (private[k], mock[k]) for k in private})


def settled_store_bytes(sites: list[SiteProcess], wait_s: float = 30.0) -> int:
    """Total store size once background pruning (prune_results) has stopped changing it."""
    last, deadline = -1, time.monotonic() + wait_s
    while time.monotonic() < deadline:
        size = sum(site.store_bytes() for site in sites)
        if size == last:
            break
        last = size
        time.sleep(1.0)
    return last


def measure(
    sites: list[SiteProcess], out: Path, dataset: str = "bench", n_rounds: int = ROUNDS
) -> dict[str, float]:
    config = SitesConfig(sites=tuple(
        SiteConfig(name=s.name, url=s.url, email_env="B_EMAIL", password_env="B_PW") for s in sites
    ))  # fmt: skip
    fed = api.connect(config, {"B_EMAIL": EMAIL, "B_PW": PASSWORD})
    exp = experiment(len(sites), dataset, n_rounds)
    api.submit(fed, exp)
    for site in sites:
        for request in admin_login(site.url, ADMIN).requests:
            if str(request.code.service_func_name) == code.function_name(exp):
                request.approve()
    store_before = settled_store_bytes(sites)
    cpu_before = [site.cpu_seconds() for site in sites]
    rounds: list[dict[str, Any]] = api.train(fed, exp, out)["per_round"]
    growth = (settled_store_bytes(sites) - store_before) / 1e6 / len(rounds)
    calls = len(rounds) + 1  # one per round and the final evaluation, at each site
    cpu = [(site.cpu_seconds() - b) / calls for site, b in zip(sites, cpu_before, strict=True)]
    wall = statistics.mean(r["wall_s"] for r in rounds)
    compute = statistics.mean(r["site_compute_s"] for r in rounds)
    middle = rounds[1:-1] or rounds  # neither the first call of the run nor the final evaluate
    steady = sum(r["wall_s"] for r in middle) / sum(r["site_compute_s"] for r in middle)
    return {"wall": wall, "compute": compute, "ratio": wall / compute, "store_mb": growth,
            "site_cpu": statistics.mean(cpu), "steady": steady}  # fmt: skip


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as root:
        # One compute thread per site, as the demo runs them: three sites on a two-core machine
        # each starting a thread per core spin against each other (compute ~10x slower).
        sites = [
            SiteProcess(f"bench{i}", Path(root) / f"bench{i}", ADMIN, extra_env=ONE_THREAD)
            for i in range(3)
        ]
        try:
            with ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda site: site.start(), sites))
            for index, site in enumerate(sites):  # sequential: syft's upload redirects stdout
                prepare(site, index)
            print(f"setup: {N_TRAIN} train / {N_VAL} val images of {SIZE}px per site, "
                  f"{ROUNDS} rounds, one call per site per round (evaluate the model received, "
                  "then train) and a final evaluate")  # fmt: skip
            for n in (1, 2, 3):
                result = measure(sites[:n], Path(root) / f"run{n}")
                print(f"round_wall_s_sites{n}={result['wall']:.2f}")
                print(f"slowest_site_compute_s_sites{n}={result['compute']:.2f}")
                print(f"round_overhead_ratio_sites{n}={result['ratio']:.2f}")
                print(f"round_overhead_s_sites{n}={result['wall'] - result['compute']:.2f}")
                print(f"site_cpu_per_call_s_sites{n}={result['site_cpu']:.3f}")
            print(f"round_overhead_ratio={result['ratio']:.2f}")
            print(f"store_growth_mb_per_round={result['store_mb']:.2f} "
                  f"(all {len(sites)} sites' stores, database + blobs)")  # fmt: skip
            large = measure(sites, Path(root) / "large", "bench_large")
            print(f"note=3 sites, {LARGE * N_TRAIN} training images per site")
            print(f"slowest_site_compute_s_sites3_large={large['compute']:.2f}")
            print(f"round_overhead_ratio_sites3_large={large['ratio']:.2f}")
            print(f"round_overhead_s_sites3_large={large['wall'] - large['compute']:.2f}")
            longer = measure(sites, Path(root) / "longer", n_rounds=LONGER)
            print(f"note=3 sites, {LONGER} rounds: the first call of a run and the final "
                  "evaluate weigh less; steady = the rounds between them")  # fmt: skip
            print(f"round_overhead_ratio_sites3_rounds{LONGER}={longer['ratio']:.2f}")
            print(f"round_overhead_ratio_sites3_steady={longer['steady']:.2f}")
            print(f"site_cpu_per_call_s_sites3_rounds{LONGER}={longer['site_cpu']:.3f}")
        finally:
            for site in sites:
                site.stop()


if __name__ == "__main__":
    main()
