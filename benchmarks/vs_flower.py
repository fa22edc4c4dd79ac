"""The same federated task with Flower and with this platform, in one run.

    .venv/bin/python -m benchmarks.vs_flower

Same model, data, rounds, local epochs, seed and initial weights, 3 sites: every site runs
built-in CNN task (``examples/tasks/cnn.py``; train, then evaluate, each round). Flower 1.13
(FedAvg over gRPC on loopback, one client process per site) runs from its own virtualenv,
created under ``out/flower-venv`` on first use (flwr may not install beside syft 0.9.5).
Our side: three real datasites (``datasite launch``), a researcher account, the submit ->
admin approval -> train path. Round wall times compare the round loops only; the one-time
approval path and the audit trail written per round are printed separately. The two halves
run one after the other on a shared machine, so raw round walls also measure how busy the
cores were; each side's wall over its slowest site compute does not, and
``wall_over_flower_load_adjusted`` compares those.
"""

from __future__ import annotations

import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.round_overhead import ADMIN, EMAIL, N_TRAIN, N_VAL, PASSWORD, SIZE, experiment
from datasite.syftio.client import add_user, admin_login, upload_dataset
from fedcommon.roles import Role
from lab.process import SiteProcess, free_port
from researcher import api
from researcher.config import SiteConfig, SitesConfig
from researcher.inmemory import initial_weights
from researcher.syftio import code
from researcher.toydata import site_split

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / "out" / "flower-venv"
FLOWER = ("flwr==1.13.0", "torch==2.13.0")
N_SITES = 3
CONTRAST = 8.0  # fainter blobs than round_overhead's, so accuracy is not 1.0 for both


def flower_python() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"note: creating {VENV} with {', '.join(FLOWER)} (once; a few minutes)")
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *FLOWER], check=True)
    return python


def run_flower(work: Path, data: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    weights = initial_weights(config)
    np.savez(work / "initial.npz", **weights)
    for index, arrays in enumerate(data):
        np.savez(work / f"site{index}.npz", **arrays)
    spec = {"data_dir": str(work), "config": config, "weight_names": list(weights),
            "n_sites": N_SITES, "rounds": experiment(N_SITES).rounds, "port": free_port(),
            "result": str(work / "flower.json")}  # fmt: skip
    (work / "spec.json").write_text(json.dumps(spec))
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    script = ROOT / "benchmarks" / "flower_side.py"
    command = [str(flower_python()), str(script), str(work / "spec.json")]
    subprocess.run(command, check=True, env=env, capture_output=True, timeout=1800)
    result: dict[str, Any] = json.loads((work / "flower.json").read_text())
    return result


def prepare(site: SiteProcess, arrays: dict[str, Any], index: int) -> None:
    admin = admin_login(site.url, ADMIN)
    add_user(admin, EMAIL, "Bench", PASSWORD, Role.RESEARCHER)
    mock = site_split(16, 8, SIZE, 50 + index)
    upload_dataset(admin, "bench", "generated", {k: (arrays[k], mock[k]) for k in arrays})


def audit_bytes(sites: list[SiteProcess]) -> int:
    return sum(f.stat().st_size for s in sites for f in (s.data_dir / "audit").rglob("*"))


def run_ours(sites: list[SiteProcess], out: Path) -> dict[str, Any]:
    config = SitesConfig(sites=tuple(
        SiteConfig(name=s.name, url=s.url, email_env="B_EMAIL", password_env="B_PW") for s in sites
    ))  # fmt: skip
    exp = experiment(len(sites))
    started = time.perf_counter()
    fed = api.connect(config, {"B_EMAIL": EMAIL, "B_PW": PASSWORD})
    api.submit(fed, exp)
    for site in sites:
        for request in admin_login(site.url, ADMIN).requests:
            if str(request.code.service_func_name) == code.function_name(exp):
                request.approve()
    approval = time.perf_counter() - started
    audit_before = audit_bytes(sites)
    summary = api.train(fed, exp, out)
    return {"rounds": summary["per_round"], "final": summary["final_global_metrics"],
            "approval_s": approval, "audit_bytes": audit_bytes(sites) - audit_before}  # fmt: skip


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    exp = experiment(N_SITES)
    data = [site_split(N_TRAIN, N_VAL, SIZE, i, contrast=CONTRAST) for i in range(N_SITES)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        flower = run_flower(root, data, exp.site_config())
        sites = [SiteProcess(f"vs{i}", root / f"vs{i}", ADMIN) for i in range(N_SITES)]
        try:
            with ThreadPoolExecutor(N_SITES) as pool:
                list(pool.map(lambda site: site.start(), sites))
            for index, site in enumerate(sites):  # sequential: syft's upload redirects stdout
                prepare(site, data[index], index)
            ours = run_ours(sites, root / "ours")
        finally:
            for site in sites:
                site.stop()
    report(exp.rounds, flower, ours)


def report(rounds: int, flower: dict[str, Any], ours: dict[str, Any]) -> None:
    f_wall = statistics.mean(r["wall_s"] for r in flower["rounds"])
    o_wall = statistics.mean(r["wall_s"] for r in ours["rounds"])
    f_ratio = f_wall / statistics.mean(r["compute_s"] for r in flower["rounds"])
    o_ratio = o_wall / statistics.mean(r["site_compute_s"] for r in ours["rounds"])
    f_acc, o_acc = flower["rounds"][-1]["accuracy"], ours["final"]["accuracy"]
    print(f"setup: {N_SITES} sites x {N_TRAIN} train / {N_VAL} val images of {SIZE}px, "
          f"{rounds} rounds, same site function, seed and initial weights")  # fmt: skip
    print(f"flower_round_wall_s={f_wall:.2f}")
    print(f"ours_round_wall_s={o_wall:.2f}")
    print(f"flower_accuracy={f_acc:.4f} ours_accuracy={o_acc:.4f}")
    print(
        f"flower_round_over_compute={f_ratio:.2f} ours_round_over_compute={o_ratio:.2f} "
        "(wall / slowest site's train + evaluate compute: independent of machine load)"
    )
    print(f"ours_overhead_vs_flower_s_per_round={o_wall - f_wall:.2f}")
    print(f"ours_approval_path_s_once={ours['approval_s']:.2f} (connect, submit, 3 approvals)")
    print(f"ours_audit_kb_per_round={ours['audit_bytes'] / 1024 / rounds:.1f} "
          f"(2 executed records per site per round, hash-chained)")  # fmt: skip
    print(f"wall_over_flower={o_wall / f_wall:.2f}")
    print(f"wall_over_flower_load_adjusted={o_ratio / f_ratio:.2f}")
    print(f"acc_over_flower={o_acc / f_acc:.3f}")


if __name__ == "__main__":
    main()
