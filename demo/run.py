"""The end-to-end federation demo (README command 1), every role on one machine.

Three synthetic hospitals (different scanners and prevalence) each launch a datasite on
loopback, ingest their DICOM export, and register a researcher and a compliance officer. The
researcher submits a training experiment (plus a site-alone baseline); each admin reads the
risk report and approves; the coordinator runs FedAvg rounds; the compliance officer exports
and verifies each site's audit trail. Then the datasites stop (unless --keep).
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datasite.config import AdminCredentials
from demo import steps
from demo.report import global_auc_line, results_table, timing_line
from demo.steps import HOSPITALS, console, run
from lab.process import SiteProcess

# Three hospitals share this machine's cores: one compute thread each (torch's default, one
# per core in every site, oversubscribes the cores three times over while all sites train).
SITE_ENV = {"OMP_NUM_THREADS": "1"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--n", type=int, default=400, help="DICOM files per hospital")
    # 32 px, 10 rounds x 2 local epochs, lr 3e-3 (cosine, steps.LR): benchmarks/demo_quality.py
    # on the demo's own splits gave FedAvg's AUC over each hospital alone (one-call baseline) a
    # margin of at least +0.065 (st-olav / karolinska / charite 0.797 / 0.776 / 0.829 vs
    # 0.732 / 0.678 / 0.737); lr 2e-3: +0.016, 4e-3: +0.026, 6e-3 and 1 local epoch: lost at a
    # site; 12 rounds at 4e-3: +0.049 (20% longer). A 32 px round costs a quarter of a 64 px one.
    parser.add_argument("--size", type=int, default=steps.SIZE, help="training image size")
    parser.add_argument("--rounds", type=int, default=steps.ROUNDS, help="federated rounds")
    parser.add_argument(
        "--keep", action="store_true", help="leave the datasites running (for the notebooks)"
    )
    return parser.parse_args(argv)


def prepare(args: argparse.Namespace) -> tuple[list[SiteProcess], dict[str, str]]:
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    admin = AdminCredentials(email="admin@hospital.example", password=secrets.token_urlsafe(18))
    env = steps.base_env(admin.email, admin.password, secrets.token_urlsafe(18))
    sites = [
        SiteProcess(
            name=h.name, data_dir=args.out / h.name / "data", admin=admin, extra_env=SITE_ENV
        )
        for h in HOSPITALS
    ]
    return sites, env


def hospitals_go_live(
    args: argparse.Namespace, sites: list[SiteProcess], env: dict[str, str]
) -> None:
    console.rule("[bold]1. Hospitals: synthesize exports, launch datasites, ingest, add users")
    with ThreadPoolExecutor(max_workers=1) as launcher:  # sites start while exports are made
        launching = launcher.submit(steps.per_site, sites, SiteProcess.start)
        steps.synthesize(args.out, args.n, env)
        readies = launching.result()
    for site, ready in zip(sites, readies, strict=True):
        console.print(f"datasite [green]{site.name}[/] ready at {site.url} ({ready:.1f} s)")
    console.print(f"Each admin ingests {args.n} files (de-identify, verify, mock twins) ...")
    reports = steps.per_site(
        sites, lambda s: steps.ingest(s, args.out / s.name / "export", args.size, env)
    )
    for site, report in zip(sites, reports, strict=True):
        console.rule(f"{site.name}: ingestion", style="dim")
        console.print(report.rstrip(), markup=False, highlight=False)
    steps.per_site(sites, lambda s: steps.register_people(s, env))


def researcher_submits(
    args: argparse.Namespace, sites: list[SiteProcess], env: dict[str, str]
) -> tuple[Path, Path, dict[str, Path]]:
    console.rule("[bold]2. Researcher: explore mock data, submit the experiment")
    sites_toml = steps.write_sites_toml(args.out / "sites.toml", sites)
    experiment = args.out / "experiment.toml"
    experiment.write_text(
        steps.experiment_toml("chest_fedavg", args.rounds, args.size, 2, steps.LOCAL_EPOCHS)
    )
    run("researcher", "datasets", "--sites", str(sites_toml), env=env)

    def submit_alone(site: SiteProcess) -> None:
        # Baseline: the same model, epochs and lr schedule at one site, in one call (what a
        # hospital would do alone: train without stopping, Adam's state kept throughout).
        one = steps.write_sites_toml(args.out / f"sites-{site.name}.toml", [site])
        exp = args.out / f"experiment-{site.name}-alone.toml"
        name = f"alone_{site.name.replace('-', '_')}"
        epochs = args.rounds * steps.LOCAL_EPOCHS
        exp.write_text(steps.experiment_toml(name, 1, args.size, 1, local_epochs=epochs))
        run(
            "researcher",
            "submit",
            "--sites",
            str(one),
            "--experiment",
            str(exp),
            env=env,
            quiet=True,
        )

    with ThreadPoolExecutor(max_workers=1) as federated:  # four independent submissions
        submitted = federated.submit(
            run, "researcher", "submit", "--sites", str(sites_toml), "--experiment",
            str(experiment), env=env, quiet=True,
        )  # fmt: skip
        steps.per_site(sites, submit_alone)
        console.print(submitted.result().rstrip(), markup=False, highlight=False)
    alone_dirs = {site.name: args.out / "runs" / f"alone-{site.name}" for site in sites}
    return sites_toml, experiment, alone_dirs


def admins_review(sites: list[SiteProcess], sites_toml: Path, env: dict[str, str]) -> None:
    console.rule("[bold]3. Hospital admins: read each request and its risk report, approve")
    first = steps.pending_requests(sites[0], env)[0]
    steps.show_request(sites[0], str(first["request_id"]), env)
    counts = steps.per_site(sites, lambda s: steps.approve_pending(s, env))
    for site, count in zip(sites, counts, strict=True):
        console.print(f"{site.name}: the admin approved {count} request(s)")
    run("researcher", "status", "--sites", str(sites_toml), env=env)


def researcher_trains(
    args: argparse.Namespace,
    sites_toml: Path,
    experiment: Path,
    alone_dirs: dict[str, Path],
    env: dict[str, str],
) -> Path:
    console.rule("[bold]4. Coordinator: federated averaging rounds")
    fedavg_dir: Path = args.out / "runs" / "fedavg"
    run(
        "researcher",
        "train",
        "--sites",
        str(sites_toml),
        "--experiment",
        str(experiment),
        "--out",
        str(fedavg_dir),
        env=env,
    )
    console.print(
        f"Baselines: the same model trained at each site alone ({args.rounds * steps.LOCAL_EPOCHS} "
        "epochs, the same lr schedule, in one call) ..."
    )

    def alone(name: str) -> None:
        run(
            "researcher",
            "train",
            "--sites",
            str(args.out / f"sites-{name}.toml"),
            "--experiment",
            str(args.out / f"experiment-{name}-alone.toml"),
            "--out",
            str(alone_dirs[name]),
            env=env,
            quiet=True,
        )

    with steps.timed("site-alone baselines"):
        steps.per_site(list(alone_dirs), alone)
    return fedavg_dir


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.monotonic()
    sites, env = prepare(args)
    try:
        with steps.timed("hospitals go live"):
            hospitals_go_live(args, sites, env)
        with steps.timed("researcher submits"):
            sites_toml, experiment, alone_dirs = researcher_submits(args, sites, env)
        with steps.timed("admins review"):
            admins_review(sites, sites_toml, env)
        with steps.timed("training"):
            fedavg_dir = researcher_trains(args, sites_toml, experiment, alone_dirs, env)
        console.rule("[bold]5. Results")
        console.print(results_table(fedavg_dir, alone_dirs))
        console.print(global_auc_line(fedavg_dir))
        console.print(f"FedAvg: {timing_line(fedavg_dir)}")
        console.rule("[bold]6. Compliance: export and verify each site's audit trail")
        with steps.timed("compliance"):
            packets = [steps.export_and_verify_audit(site, args.out, env) for site in sites]
        summarize(args, fedavg_dir, packets, time.monotonic() - started)
        if args.keep:
            keep_running(args, sites, env)
    finally:
        if not args.keep:
            for site in sites:
                site.stop()


def summarize(
    args: argparse.Namespace, fedavg_dir: Path, packets: list[Path], seconds: float
) -> None:
    console.rule("[bold]Done")
    console.print(f"Finished in {seconds:.0f} s. Outputs under {args.out.resolve()}:")
    console.print(f"  run (metrics.csv, summary.json, global_model.pt, plots): {fedavg_dir}")
    for packet in packets:
        console.print(f"  compliance packet: {packet}")


def keep_running(args: argparse.Namespace, sites: list[SiteProcess], env: dict[str, str]) -> None:
    creds = args.out / "credentials.env"
    creds.touch(mode=0o600)
    creds.write_text(
        "".join(
            f"export {k}='{env[k]}'\n"
            for k in (
                "DATASITE_ADMIN_EMAIL",
                "DATASITE_ADMIN_PASSWORD",
                "DEMO_RESEARCHER_EMAIL",
                "DEMO_USER_PASSWORD",
            )
        )
    )
    for site in sites:
        console.print(
            f"datasite {site.name} keeps running at {site.url} (pid "
            f"{site.process.pid if site.process else '?'})"
        )
    console.print(
        f"Credentials for the notebooks: source {creds} (mode 600). Stop the sites "
        "with: kill <pid> (SIGTERM stops a datasite cleanly)."
    )
