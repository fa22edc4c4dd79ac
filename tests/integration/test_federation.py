"""A researcher federates three real datasites: submit, approval, training, resume, the
execution bound and a denial, all over HTTP on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from datasite.syftio.client import add_user, admin_login, upload_dataset
from fedcommon.roles import Role
from researcher import api
from researcher.config import ExperimentConfig, ModelConfig
from researcher.errors import SiteCallError, SubmissionError
from researcher.syftio import code
from researcher.syftio.site import SyftSite
from researcher.toydata import site_split
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory
from tests.unit.test_researcher_coordinator import StopAfter

pytestmark = pytest.mark.integration
SIZE = 32
NAMES = ("north", "south", "west")
EMAIL = "ada@uni.example"


def experiment(name: str, **overrides: Any) -> ExperimentConfig:
    settings: dict[str, Any] = {"rounds": 3, "lr": 0.01, "batch_size": 16, "local_epochs": 2}
    settings.update(spare_executions=0, site_timeout_s=120)
    settings["model"] = ModelConfig(width=8, depth=2, image_size=SIZE)
    settings.update(overrides)
    return ExperimentConfig(name=name, dataset="toy-xray", **settings)


class Federation:
    """Three running datasites with data and a researcher account, plus the files to reach them."""

    def __init__(self, root: Path, factory: SiteFactory) -> None:
        self.root = root
        self.sites = [factory.make(name) for name in NAMES]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda site: site.start(), self.sites))
        self.admins = {s.name: admin_login(s.url, ADMIN) for s in self.sites}
        self.env = {f"{s.name.upper()}_{k}": v for s in self.sites for k, v in
                    (("EMAIL", EMAIL), ("PASSWORD", RESEARCHER_PASSWORD))}  # fmt: skip
        for index, site in enumerate(self.sites):
            admin = self.admins[site.name]
            add_user(admin, EMAIL, "Ada L", RESEARCHER_PASSWORD, Role.RESEARCHER)
            private, mock = (
                site_split(72, 36, SIZE, seed=index),
                site_split(24, 12, SIZE, 100 + index),
            )
            upload_dataset(admin, "toy-xray", "blobs", {k: (private[k], mock[k]) for k in private})
        self.sites_file = root / "sites.toml"
        self.sites_file.write_text("".join(
            f'[[site]]\nname = "{s.name}"\nurl = "{s.url}"\nemail_env = "{s.name.upper()}_EMAIL"\n'
            f'password_env = "{s.name.upper()}_PASSWORD"\n' for s in self.sites))  # fmt: skip

    def connect(self) -> api.Federation:
        return api.connect(api.load_sites(self.sites_file), self.env)

    def decide(self, exp: ExperimentConfig, deny: dict[str, str] | None = None) -> None:
        name = code.function_name(exp)
        for site, admin in self.admins.items():
            for request in admin.requests:
                if str(request.code.service_func_name) != name:
                    continue
                if site in (deny or {}):
                    request.deny(reason=(deny or {})[site])
                else:
                    request.approve()

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "researcher", *args, "--sites", str(self.sites_file)],
            env={**os.environ, **self.env, "COLUMNS": "200"},
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    root = tmp_path_factory.mktemp("federation")
    factory = SiteFactory(root)
    try:
        yield Federation(root, factory)
    finally:
        factory.stop_all()


def test_researcher_sees_every_sites_assets(federation: Federation) -> None:
    rows = api.list_datasets(federation.connect())

    images = {r["site"]: r["shape"] for r in rows if r["asset"] == "images"}
    assert images == {name: [24, 1, SIZE, SIZE] for name in NAMES}
    assert {r["description"] for r in rows} == {"blobs"}  # the text, not syft's class name


def test_code_failing_on_mock_is_not_submitted(federation: Federation) -> None:
    broken = experiment("broken", model=ModelConfig(width=8, depth=2, image_size=SIZE * 2))
    fed = federation.connect()

    with pytest.raises(SubmissionError, match=r"failed on the mock data .*N x 1 x 64 x 64"):
        api.submit(fed, broken)
    assert {row["status"] for row in api.status(fed, broken)} == {"not submitted"}


def test_train_resume_and_execution_bound(federation: Federation, tmp_path: Path) -> None:
    exp = experiment("blobs", spare_executions=1)  # as the file below says
    exp_file = tmp_path / "exp.toml"
    exp_file.write_text(
        f'name = "blobs"\ndataset = "toy-xray"\nrounds = 3\nlr = 0.01\nbatch_size = 16\n'
        f"local_epochs = 2\nspare_executions = 1\nsite_timeout_s = 120\n"
        f"[model]\nwidth = 8\ndepth = 2\nimage_size = {SIZE}\n"
    )
    submitted = federation.cli("submit", "--experiment", str(exp_file), "--format", "json")
    assert submitted.returncode == 0, submitted.stderr
    assert {r["result"] for r in json.loads(submitted.stdout)} == {"submitted"}
    fed = federation.connect()
    with pytest.raises(SiteCallError, match="pending approval by the site admin"):
        SyftSite("north", fed.clients["north"], api._assets(fed, "north", exp), exp).train({}, 1)
    federation.decide(exp)

    with pytest.raises(KeyboardInterrupt):
        api.train(fed, exp, tmp_path / "run", StopAfter(1))
    summary = api.train(federation.connect(), exp, tmp_path / "run")

    assert summary["rounds_completed"] == 3 and summary["sites_used"] == list(NAMES)
    assert summary["final_global_metrics"]["accuracy"] > 0.7
    rounds = [r["round"] for r in summary["per_round"]]
    assert rounds == [1, 2, 3]
    status = federation.cli("status", "--experiment", str(exp_file), "--format", "json")
    # One call per round and the final evaluation (4), plus round 2's call again: the run was
    # interrupted after it (its spare).
    assert [(r["status"], r["used"], r["budget"]) for r in json.loads(status.stdout)] == [
        ("approved", 5, 5)
    ] * 3
    site = SyftSite("west", fed.clients["west"], api._assets(fed, "west", exp), exp)
    with pytest.raises(SiteCallError, match=r"west: approved executions used up \(5 of 5\)"):
        site.train({}, 4)


def test_denied_site_is_skipped_with_the_admins_reason(
    federation: Federation, tmp_path: Path
) -> None:
    exp = experiment("denied_one", rounds=1)
    fed = federation.connect()
    api.submit(fed, exp)
    federation.decide(exp, deny={"west": "no imaging research this quarter"})

    summary = api.train(fed, exp, tmp_path / "run")

    assert summary["sites_used"] == ["north", "south"]
    reason = "denied by the site admin: no imaging research this quarter"
    assert summary["sites_skipped"]["west"][0] == f"round 1: {reason}"
    west = next(r for r in api.status(fed, exp) if r["site"] == "west")
    assert (west["status"], west["reason"]) == ("denied", "no imaging research this quarter")


def test_train_refetches_no_sites_api_it_does_not_need(
    federation: Federation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """syft refetches a client's whole API (~1 s a site) whenever a name it lacks is looked
    up. A researcher who connects after the approval (``researcher train``) needs no refetch;
    one who connected before it needs one per site, before the rounds, not inside round 1."""
    from syft.client.client import SyftClient

    from researcher.coordinator import Coordinator

    fetched: list[str] = []
    in_round: list[bool] = []
    fetch, run_round = SyftClient._fetch_api, Coordinator._round

    def counted_fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        fetched.append("round" if in_round else "setup")
        return fetch(self, *args, **kwargs)

    def counted_round(self: Any, *args: Any, **kwargs: Any) -> Any:
        in_round.append(True)
        try:
            return run_round(self, *args, **kwargs)
        finally:
            in_round.clear()

    monkeypatch.setattr(SyftClient, "_fetch_api", counted_fetch)
    monkeypatch.setattr(Coordinator, "_round", counted_round)
    fresh, stale = experiment("fetch_fresh", rounds=1), experiment("fetch_stale", rounds=1)
    before = federation.connect()
    api.submit(before, stale)
    api.submit(before, fresh)
    federation.decide(stale)
    federation.decide(fresh)

    after = federation.connect()  # each login fetches the API once
    fetched.clear()
    summary = api.train(after, fresh, tmp_path / "fresh")
    assert summary["sites_used"] == list(NAMES)
    assert fetched == []  # syft's datasets[name] refetched the API at each site: 3

    fetched.clear()
    summary = api.train(before, stale, tmp_path / "stale")
    assert summary["sites_used"] == list(NAMES)
    assert fetched == ["setup"] * len(NAMES)  # one per site, none inside a round
