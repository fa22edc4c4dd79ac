"""Researchers bring their own task: two example tasks beyond the built-in CNN train through
two real datasites for two rounds, each site's code environment gates the imports (at
submission and at approval), and the request declares its output schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from datasite import api as site_api
from datasite import decisions
from datasite.review.facts import BindingKind, RequestFacts
from datasite.syftio.client import add_user, admin_login, upload_dataset
from datasite.synth.phantom import phantom_arrays
from fedcommon.roles import Role
from fedcommon.task_schema import SCHEMA_ARGUMENT
from researcher import api
from researcher.errors import TaskError
from researcher.syftio import code
from researcher.toydata import site_split
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration
SIZE = 32
NAMES = ("north", "south")
EMAIL = "grace@uni.example"
TASKS = Path(__file__).resolve().parents[2] / "examples" / "tasks"


def multiclass_arrays(seed: int, n: int, n_val: int) -> dict[str, Any]:
    images, labels = phantom_arrays(n, SIZE, seed=seed, classes=3)
    val_images, val_labels = phantom_arrays(n_val, SIZE, seed=seed + 50, classes=3)
    return {"images": images, "labels": labels, "val_images": val_images, "val_labels": val_labels}


class Sites:
    """Two datasites with a multi-class and a binary dataset and a researcher account."""

    def __init__(self, root: Path, factory: SiteFactory) -> None:
        self.root = root
        self.sites = {name: factory.make(name) for name in NAMES}
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda site: site.start(), self.sites.values()))
        self.env = {f"{n.upper()}_{k}": v for n in NAMES for k, v in
                    (("EMAIL", EMAIL), ("PASSWORD", RESEARCHER_PASSWORD))}  # fmt: skip
        for index, site in enumerate(self.sites.values()):
            admin = admin_login(site.url, ADMIN)
            add_user(admin, EMAIL, "Grace H", RESEARCHER_PASSWORD, Role.RESEARCHER)
            private, mock = multiclass_arrays(index, 60, 30), multiclass_arrays(100 + index, 24, 12)
            upload_dataset(admin, "cxr3", "3 classes", {k: (private[k], mock[k]) for k in private})
            private, mock = (
                site_split(48, 24, SIZE, seed=index),
                site_split(16, 8, SIZE, 100 + index),
            )
            upload_dataset(admin, "blobs", "binary", {k: (private[k], mock[k]) for k in private})
        self.sites_file = root / "sites.toml"
        self.sites_file.write_text("".join(
            f'[[site]]\nname = "{n}"\nurl = "{s.url}"\nemail_env = "{n.upper()}_EMAIL"\n'
            f'password_env = "{n.upper()}_PASSWORD"\n' for n, s in self.sites.items()))  # fmt: skip

    def connect(self) -> api.Federation:
        return api.connect(api.load_sites(self.sites_file), self.env)

    def experiment(self, name: str, body: str) -> Path:
        path = self.root / f"{name}.toml"
        path.write_text(
            f'name = "{name}"\nrounds = 2\nbatch_size = 16\nspare_executions = 0\n'
            f"site_timeout_s = 300\n{body}"
        )
        return path

    def requests_of(self, site: str, function: str) -> list[RequestFacts]:
        rows = decisions.list_requests(self.sites[site].url, ADMIN)
        return [r for r in rows if r.function == function]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "researcher", *args, "--sites", str(self.sites_file)],
            env={**os.environ, **self.env, "COLUMNS": "200"},
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip


@pytest.fixture(scope="module")
def two_sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    root = tmp_path_factory.mktemp("tasks")
    factory = SiteFactory(root)
    try:
        yield Sites(root, factory)
    finally:
        factory.stop_all()


def test_each_site_publishes_its_code_environment(two_sites: Sites) -> None:
    url = two_sites.sites["north"].url

    body = httpx.get(f"{url}/site/env", auth=(EMAIL, RESEARCHER_PASSWORD), timeout=30).json()
    shown = run_cli("env", "show", "--url", url, "--format", "json")

    assert body["modules"]["numpy"] == "1.24.4" and body["modules"]["math"] == "stdlib"
    assert "monai" not in body["modules"] and "os" not in body["modules"]
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["modules"] == body["modules"]


def test_multiclass_task_trains_through_two_sites(two_sites: Sites, tmp_path: Path) -> None:
    exp_file = two_sites.experiment(
        "multiclass", f'dataset = "cxr3"\nlr = 0.01\nlocal_epochs = 5\n'
        f'task = "{TASKS / "multiclass.py"}:multiclass_task"\n'
        f"[task_config]\nnum_classes = 3\nimage_size = {SIZE}\nwidth = 16\naugment = true\n",
    )  # fmt: skip
    submitted = two_sites.cli("submit", "--experiment", str(exp_file), "--format", "json")
    assert submitted.returncode == 0, submitted.stderr
    exp = api.load_experiment(exp_file)
    name = code.function_name(exp)
    for site in NAMES:
        (request,) = two_sites.requests_of(site, name)
        site_api.approve(two_sites.sites[site].url, request.request_id, ADMIN)

    summary = api.train(two_sites.connect(), exp, tmp_path / "run")

    final = summary["final_global_metrics"]
    print(f"multiclass task: global accuracy {final['accuracy']:.3f}, "
          f"balanced accuracy {final['balanced_accuracy']:.3f}")  # fmt: skip
    assert summary["rounds_completed"] == 2 and summary["sites_used"] == list(NAMES)
    assert final["balanced_accuracy"] > 0.5 and final["accuracy"] > 0.5  # chance: 1/3
    assert (tmp_path / "run" / "metrics.png").exists()
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0]
    assert header.endswith(",balanced_accuracy")


def test_monai_task_is_gated_by_each_sites_environment_then_trains(
    two_sites: Sites, tmp_path: Path
) -> None:
    north, south = (two_sites.sites[n] for n in NAMES)
    exp_file = two_sites.experiment(
        "monai_resnet", f'dataset = "blobs"\nlr = 0.003\nlocal_epochs = 3\n'
        f'task = "{TASKS / "monai_resnet.py"}:monai_resnet_task"\n'
        f"[task_config]\nnum_classes = 2\nimage_size = {SIZE}\n",
    )  # fmt: skip
    exp = api.load_experiment(exp_file)
    fed = two_sites.connect()
    run_cli("env", "allow", "--data-dir", str(north.data_dir), "monai")

    with pytest.raises(TaskError, match=r"imports 'monai.networks.nets', which site south does"):
        api.submit(fed, exp)
    run_cli("env", "allow", "--data-dir", str(south.data_dir), "monai")
    assert set(api.submit(fed, exp).values()) == {"submitted"}

    name = code.function_name(exp)
    (request,) = two_sites.requests_of("south", name)
    run_cli("env", "disallow", "--data-dir", str(south.data_dir), "monai")
    refused = run_cli("requests", "approve", "--url", south.url, request.request_id)
    assert refused.returncode != 0 and "outside this site's code environment" in refused.stderr
    run_cli("env", "allow", "--data-dir", str(south.data_dir), "monai")
    facts = decisions.request_facts(south.url, ADMIN, request.request_id)
    declared = facts.bindings[SCHEMA_ARGUMENT]
    assert declared.kind is BindingKind.CONSTANT
    assert "{'weights': {'conv1.weight': {'shape': [8, 1, 3, 3], 'dtype': 'float32'}" in str(
        declared.value
    )
    for site in (north, south):
        (request,) = two_sites.requests_of(site.name, name)
        site_api.approve(site.url, request.request_id, ADMIN)

    summary = api.train(fed, exp, tmp_path / "run")

    final = summary["final_global_metrics"]
    print(f"MONAI ResNet task: global accuracy {final['accuracy']:.3f}, auc {final['auc']:.3f}")
    assert summary["rounds_completed"] == 2 and summary["sites_used"] == list(NAMES)
    assert final["accuracy"] >= 0.7 and final["auc"] > 0.8  # chance: 0.5; FedBN keeps BN local
