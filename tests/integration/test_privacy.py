"""A hospital owns its privacy budget: one real datasite over HTTP enforces a per-dataset
epsilon ledger across requests (approve, execute), keeps it through kill -9, lets compliance
read it but not change it, and refuses non-DP requests on a budgeted dataset."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from datasite.syftio.client import add_user, admin_login, upload_dataset
from fedcommon.privacy import PrivacySettings
from fedcommon.roles import Role
from researcher import api
from researcher.config import ExperimentConfig, ModelConfig
from researcher.errors import CallFailure, SiteCallError
from researcher.syftio import code
from researcher.syftio.site import SyftSite
from researcher.toydata import site_split
from tests.conftest import ADMIN, RESEARCHER_PASSWORD, SiteFactory, run_cli

pytestmark = pytest.mark.integration
SIZE = 32
EMAIL, AUDITOR = "ada@uni.example", "carl@hospital.example"
TASK = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "dp_cnn.py"
DATASETS = ("toy-a", "toy-b", "toy-c")


def experiment(name: str, dataset: str, target: float | None, **overrides: Any) -> ExperimentConfig:
    settings: dict[str, Any] = {"rounds": 1, "spare_executions": 0, "lr": 0.01}
    settings.update(batch_size=16, min_sites=1, site_timeout_s=120)
    settings["model"] = ModelConfig(width=4, depth=2, image_size=SIZE, norm="group")
    if target is not None:
        settings.update(task=f"{TASK}:dp_cnn", privacy=PrivacySettings(target_epsilon=target,
                                                                       delta=0.01))  # fmt: skip
    settings.update(overrides)
    return ExperimentConfig(name=name, dataset=dataset, **settings)


class World:
    """One datasite with three small datasets, a researcher and a compliance officer."""

    def __init__(self, root: Path, factory: SiteFactory) -> None:
        self.site = factory.start("north")
        self.url = self.site.url
        admin = admin_login(self.url, ADMIN)
        add_user(admin, EMAIL, "Ada L", RESEARCHER_PASSWORD, Role.RESEARCHER)
        add_user(admin, AUDITOR, "Carl C", RESEARCHER_PASSWORD, Role.COMPLIANCE)
        for index, name in enumerate(DATASETS):
            private, mock = site_split(72, 36, SIZE, seed=index), site_split(24, 12, SIZE, 9)
            upload_dataset(admin, name, "toy", {k: (private[k], mock[k]) for k in private})
        self.sites_file = root / "sites.toml"
        self.sites_file.write_text(
            f'[[site]]\nname = "north"\nurl = "{self.url}"\nemail_env = "NORTH_EMAIL"\n'
            'password_env = "NORTH_PASSWORD"\n'
        )
        self.env = {"NORTH_EMAIL": EMAIL, "NORTH_PASSWORD": RESEARCHER_PASSWORD}

    def connect(self) -> api.Federation:
        return api.connect(api.load_sites(self.sites_file), self.env)

    def request_id(self, exp: ExperimentConfig) -> str:
        name = code.function_name(exp)
        found = [r for r in admin_login(self.url, ADMIN).requests
                 if str(r.code.service_func_name) == name]  # fmt: skip
        assert len(found) == 1
        return str(found[0].id.no_dash)

    def datasite(self, *args: str, user: str | None = None) -> Any:
        env = {"DATASITE_USER_EMAIL": user, "DATASITE_USER_PASSWORD": RESEARCHER_PASSWORD}
        return run_cli(*args, "--url", self.url, env=env if user else None)

    def ledger(self, user: str | None = None) -> list[dict[str, Any]]:
        shown = self.datasite("privacy", "show", "--format", "json", user=user)
        assert shown.returncode == 0, shown.stderr
        found: list[dict[str, Any]] = json.loads(shown.stdout)
        return found

    def site_handle(self, fed: api.Federation, exp: ExperimentConfig) -> SyftSite:
        return SyftSite("north", fed.clients["north"], api._assets(fed, "north", exp), exp)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("privacy")
    factory = SiteFactory(root)
    try:
        yield World(root, factory)
    finally:
        factory.stop_all()


def test_a_budget_of_3_allows_one_request_costing_2_and_refuses_a_second(world: World) -> None:
    budget = world.datasite("privacy", "set", "--dataset", "toy-a", "--epsilon", "3",
                            "--delta", "0.1")  # fmt: skip
    assert budget.returncode == 0, budget.stderr
    fed = world.connect()
    first, second = experiment("dp_first", "toy-a", 2.0), experiment("dp_second", "toy-a", 2.0)
    plans, costs = api.privacy_cost(fed, first)
    assert 1.98 <= plans["north"].epsilon <= 2.0 and costs[0]["remaining"] == 3.0
    assert costs[0]["n_train"] == 72  # the private split's size, not the mock's 24
    api.submit(fed, first, plans=plans)
    api.submit(fed, second)

    approved = world.datasite("requests", "approve", world.request_id(first))
    shown = world.datasite("requests", "show", world.request_id(second))
    refused = world.datasite("requests", "approve", world.request_id(second))

    assert approved.returncode == 0, approved.stderr
    assert "declares epsilon 2.00" in shown.stdout and "remaining epsilon 1.00 of budget 3" in (
        shown.stdout
    )
    assert refused.returncode != 0
    assert "remaining epsilon 1.0" in refused.stderr and "declares epsilon 2.00" in refused.stderr
    assert api.status(fed, second)[0]["status"] == "pending"
    assert api.status(fed, first)[0]["privacy_remaining"] == pytest.approx(
        3.0 - plans["north"].epsilon, abs=1e-3
    )
    (toy_a,) = [d for d in world.ledger() if d["dataset"] == "toy-a"]
    assert [r["request_id"] for r in toy_a["requests"]] == [world.request_id(first)]


def test_training_stops_when_the_requests_share_is_spent(world: World, tmp_path: Path) -> None:
    budget = world.datasite("privacy", "set", "--dataset", "toy-b", "--epsilon", "8",
                            "--delta", "0.1")  # fmt: skip
    assert budget.returncode == 0, budget.stderr
    exp = experiment("dp_share", "toy-b", 3.0, rounds=1, spare_executions=1)  # 2 trains, 3 calls
    fed = world.connect()
    plans, _ = api.privacy_cost(fed, exp)
    api.submit(fed, exp, plans=plans)
    assert world.datasite("requests", "approve", world.request_id(exp)).returncode == 0
    site = world.site_handle(fed, exp)

    first = site.train({}, 1)
    second = site.train(first.weights or {}, 2, evaluate_first=True)  # a fused call is charged
    assert second.evaluation is not None and second.evaluation.n_samples > 0
    with pytest.raises(SiteCallError, match=r"privacy budget \(used up\).*spent its privacy "
                       r"share.*remaining epsilon") as refused:  # fmt: skip
        site.train(second.weights or {}, 3)
    assert refused.value.code is CallFailure.PRIVACY_SPENT and refused.value.code.permanent

    declared = plans["north"].epsilon_by_round
    assert [first.metrics["epsilon"], second.metrics["epsilon"]] == pytest.approx(declared)
    (toy_b,) = [d for d in world.ledger() if d["dataset"] == "toy-b"]
    assert toy_b["spent"] == pytest.approx(plans["north"].epsilon)
    assert (toy_b["requests"][0]["rounds_charged"], toy_b["requests"][0]["rounds"]) == (2, 2)
    audit = _audit_events(world)
    assert audit.count("privacy_spent") == 2 and "privacy_refused" in audit


def _audit_events(world: World) -> list[str]:
    from datasite.audit import fetch

    lines = fetch.fetch(world.url, None, ADMIN).lines
    return [r["event"] for r in fetch.records(lines)]


def test_compliance_reads_the_ledger_but_cannot_change_it(world: World) -> None:
    budget = world.datasite("privacy", "set", "--dataset", "toy-c", "--epsilon", "5",
                            "--delta", "0.1")  # fmt: skip
    assert budget.returncode == 0, budget.stderr

    read = world.ledger(user=AUDITOR)
    changed = world.datasite("privacy", "set", "--dataset", "toy-c", "--epsilon", "50",
                             "--delta", "0.5", user=AUDITOR)  # fmt: skip

    assert {d["dataset"]: d["epsilon"] for d in read}["toy-c"] == 5.0
    assert changed.returncode == 6 and "Needs the admin role" in changed.stderr
    assert {d["dataset"]: d["epsilon"] for d in world.ledger()}["toy-c"] == 5.0


def test_a_non_dp_request_on_a_budgeted_dataset_is_refused(world: World) -> None:
    world.datasite("privacy", "set", "--dataset", "toy-c", "--epsilon", "5", "--delta", "0.1")
    plain = experiment("plain_cnn", "toy-c", None)
    fed = world.connect()
    api.submit(fed, plain)

    refused = world.datasite("requests", "approve", world.request_id(plain))

    assert refused.returncode != 0
    assert "not differentially private" in refused.stderr
    assert "remaining epsilon 5.00" in refused.stderr
    assert api.status(fed, plain)[0]["status"] == "pending"


def test_the_ledger_survives_kill_9(world: World) -> None:
    before = world.ledger()
    assert {d["dataset"] for d in before} >= {"toy-c"}

    world.site.stop(signal.SIGKILL)
    world.site.start()

    assert world.ledger() == before
