"""The demo's steps. Each role acts through its own command-line tool, as people would:
hospital admins with ``datasite``, the researcher with ``researcher``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from demo import commands
from lab.process import SiteProcess
from lab.sites import Site, write_sites

console = Console()
T = TypeVar("T")
RESEARCHER = "researcher@uni.example"
AUDITOR = "auditor@hospital.example"
# The model head of the demo's experiment (see benchmarks/fl_sweep.py for the measurement).
POOL_GRID = 2
# The demo's training settings (benchmarks/demo_quality.py uses the same): its lr from
# demo_quality over the demo's own splits (see demo/run.py).
LR = 0.003
ROUNDS = 10
LOCAL_EPOCHS = 2
ALGORITHM = "fedavg"
SIZE = 32  # training image px


@dataclass(frozen=True)
class Hospital:
    name: str
    shift: str  # a `datasite synth --shift` preset
    seed: int


HOSPITALS = (
    Hospital("st-olav", "fuji-cr", 1),
    Hospital("karolinska", "ge-dx", 2),
    Hospital("charite", "agfa-cr", 3),
)


class StepFailed(RuntimeError):
    """A command of the demo failed; its output was shown."""


def run(tool: str, *args: str, env: dict[str, str], quiet: bool = False) -> str:
    """Run ``python -m <tool> ARGS`` and return its stdout; show it unless quiet.

    The command runs in a process forked from one that has syft imported already
    (:mod:`demo.commands`): the same command, minus the import."""
    result = commands.run(tool, args, env)
    partial_ok = (10,) if args[:1] == ("ingest",) else ()  # 10 = uploaded, some files rejected
    if result.returncode not in (0, *partial_ok):  # (elsewhere 10 is a refused submission)
        console.print(result.stdout + result.stderr, markup=False, highlight=False)
        raise StepFailed(f"`{tool} {' '.join(args[:2])}` exited with {result.returncode}")
    if not quiet:
        console.print(result.stdout.rstrip(), markup=False, highlight=False)
    return result.stdout


@contextmanager
def timed(what: str) -> Iterator[None]:
    """Print how long a step of the demo took (where a user's minutes go)."""
    started = time.monotonic()
    yield
    console.print(f"[dim]({what}: {time.monotonic() - started:.0f} s)[/]")


def per_site(items: Iterable[T], work: Callable[[T], Any]) -> list[Any]:
    """Do ``work`` for every site at once (each hospital acts independently)."""
    with ThreadPoolExecutor(max_workers=3) as pool:
        return list(pool.map(work, items))


def synthesize(out: Path, n: int, env: dict[str, str]) -> None:
    def one(h: Hospital) -> None:
        run(
            "datasite",
            "synth",
            "--out",
            str(out / h.name / "export"),
            "--site",
            h.name,
            "--n",
            str(n),
            "--seed",
            str(h.seed),
            "--shift",
            h.shift,
            "--rows",
            "256",
            env=env,
            quiet=True,
        )

    per_site(HOSPITALS, one)
    console.print(f"Wrote {n} DICOM files per hospital ({', '.join(h.shift for h in HOSPITALS)})")


def demo_key(name: str) -> str:
    """Demo only: the fixed pseudonym key (hex) of hospital ``name``."""
    return hashlib.sha256(f"fl-demo-{name}".encode()).hexdigest()


def demo_key_file(site: SiteProcess) -> Path:
    """Demo only: a fixed pseudonym key per hospital, so that the patient-level train /
    validation split (and so the closing table) is the same on every run. A hospital's own
    key is a secret that ``datasite ingest`` creates (mode 600) and the admin backs up."""
    path = site.data_dir.parent / "pseudonym.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(handle, "w") as out:
        out.write(demo_key(site.name) + "\n")
    return path


def ingest(site: SiteProcess, export: Path, size: int, env: dict[str, str]) -> str:
    """The admin's ingestion of the export; returns its printed summary."""
    key_file = demo_key_file(site)
    return run(
        "datasite", "ingest", str(export), "--url", site.url, "--labels",
        str(export / "labels.csv"), "--dataset", "chest-xray", "--size", str(size),
        "--description", f"Chest radiographs, {site.name}", "--val-fraction", "0.2",
        "--verify", "--key-file", str(key_file), env=env, quiet=True,
    )  # fmt: skip


def register_people(site: SiteProcess, env: dict[str, str]) -> None:
    def add(person: tuple[str, str]) -> None:
        email, role = person
        run(
            "datasite",
            "users",
            "add",
            "--url",
            site.url,
            "--email",
            email,
            "--name",
            role.title(),
            "--role",
            role,
            "--password-env",
            "DEMO_USER_PASSWORD",
            env=env,
            quiet=True,
        )

    per_site([(RESEARCHER, "researcher"), (AUDITOR, "compliance")], add)


def write_sites_toml(path: Path, sites: list[SiteProcess]) -> Path:
    """A researcher's sites file: names, URLs and the NAMES of credential variables."""
    listed = [Site(site.name, site.url) for site in sites]
    return write_sites(path, listed, "DEMO_RESEARCHER_EMAIL", "DEMO_USER_PASSWORD")


def experiment_toml(
    name: str, rounds: int, size: int, min_sites: int, local_epochs: int = 2
) -> str:
    return f"""name = "{name}"
dataset = "chest-xray"
optimizer = "adam"
lr = {LR}
lr_schedule = "cosine"
batch_size = 32
local_epochs = {local_epochs}
rounds = {rounds}
seed = 0
algorithm = "{ALGORITHM}"
fedbn = true
min_sites = {min_sites}
site_timeout_s = 600

[model]
width = 8
depth = 4
num_classes = 2
image_size = {size}
pool_grid = {POOL_GRID}
"""


def pending_requests(site: SiteProcess, env: dict[str, str]) -> list[dict[str, Any]]:
    text = run(
        "datasite",
        "requests",
        "list",
        "--url",
        site.url,
        "--status",
        "pending",
        "--format",
        "json",
        env=env,
        quiet=True,
    )
    requests: list[dict[str, Any]] = json.loads(text)
    return requests


def show_request(site: SiteProcess, request_id: str, env: dict[str, str]) -> None:
    """What an admin reads before deciding: code, hash, bindings, policies, risk report."""
    console.rule(f"[bold]{site.name}: request {request_id[:8]}, as the admin reads it")
    run("datasite", "requests", "show", request_id, "--url", site.url, env=env)


def approve_pending(site: SiteProcess, env: dict[str, str]) -> int:
    pending = pending_requests(site, env)

    def approve(request: dict[str, Any]) -> None:
        run(
            "datasite",
            "requests",
            "approve",
            str(request["request_id"]),
            "--url",
            site.url,
            env=env,
            quiet=True,
        )

    per_site(pending, approve)
    return len(pending)


def export_and_verify_audit(site: SiteProcess, out: Path, env: dict[str, str]) -> Path:
    """The compliance officer exports the packet and verifies the chain, as themself."""
    auditor_env = {
        **env,
        "DATASITE_USER_EMAIL": AUDITOR,
        "DATASITE_USER_PASSWORD": env["DEMO_USER_PASSWORD"],
    }
    packet = out / f"audit-{site.name}.html"
    run(
        "datasite",
        "audit",
        "export",
        "--url",
        site.url,
        "--format",
        "html",
        "--out",
        str(packet),
        env=auditor_env,
        quiet=True,
    )
    run("datasite", "audit", "verify", "--url", site.url, env=auditor_env)
    return packet


def base_env(admin_email: str, admin_password: str, user_password: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATASITE_ADMIN_EMAIL": admin_email,
        "DATASITE_ADMIN_PASSWORD": admin_password,
        "DEMO_USER_PASSWORD": user_password,
        "DEMO_RESEARCHER_EMAIL": RESEARCHER,
        "COLUMNS": "110",
    }
