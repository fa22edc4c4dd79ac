"""The researcher's Python API (notebooks call this; the ``researcher`` CLI is a shell over it).

from researcher import api
fed = api.connect(api.load_sites("sites.toml"))       # log in to every site
api.list_datasets(fed)                                  # datasets and assets per site
exp = api.load_experiment("experiment.toml")
api.privacy_cost(fed, exp)                              # DP: declared epsilon per site
api.check(fed, exp)                                     # the task's contract check on each mock
api.submit(fed, exp)                                    # imports + contract check, then requests
api.status(fed, exp)                                    # pending / approved / denied, budget
api.train(fed, exp, "runs/first")                       # the coordinator (resumes)

Every call that needs the site task takes ``task=``: a function defined in a notebook cell
(``def my_task(data, weights, task, round_index, config): ...``); without it, the task the
experiment names (``task = "file.py:fn"``, default the built-in CNN). See researcher.task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fedcommon.code_env import CodeEnvironment
from fedcommon.privacy import PrivacyPlan
from fedcommon.task_schema import OutputSchema
from researcher import privacy, siteenv, taskcheck
from researcher.config import (
    ExperimentConfig,
    SiteConfig,
    SitesConfig,
    load_experiment,
    load_sites,
)
from researcher.coordinator import Coordinator, Progress
from researcher.errors import ResearcherError, SubmissionError, TaskError, TrainingError
from researcher.inmemory import initial_weights
from researcher.task import SiteTask, TaskFn, import_problems, resolve, static_problems

__all__ = [
    "Federation",
    "check",
    "code_environments",
    "connect",
    "dry_run",
    "list_datasets",
    "load_experiment",
    "load_sites",
    "privacy_cost",
    "status",
    "submit",
    "train",
]
log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Federation:
    """Logged-in clients per site, and the reason for each site that could not be reached."""

    sites: SitesConfig
    clients: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    env: Mapping[str, str] | None = None  # where the credential variables were read


def _at_every_site(work: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``work`` on each site's item at once (at most 8 threads), results in ``items``' order:
    each call waits on its site for much of its time."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), 8))) as pool:
        return list(pool.map(work, items))


def connect(sites: SitesConfig, env: Mapping[str, str] | None = None) -> Federation:
    """Log in to every site; a site that fails is listed in ``errors`` with the reason."""
    from researcher.syftio import client

    def attempt(site: SiteConfig) -> Any:
        try:
            return client.connect(site, env)
        except ResearcherError as err:
            log.info("%s", err.message)
            return err

    fed = Federation(sites, env=env)
    outcomes = _at_every_site(attempt, sites.sites)  # a login waits on its site ~half its ~2 s
    for site, outcome in zip(sites.sites, outcomes, strict=True):
        if isinstance(outcome, ResearcherError):
            fed.errors[site.name] = outcome.message
        else:
            fed.clients[site.name] = outcome
    return fed


def list_datasets(fed: Federation) -> list[dict[str, Any]]:
    """One row per site and asset (site, dataset, asset, shape)."""
    from researcher.syftio import client

    return [
        {"site": name, **row}
        for name, handle in fed.clients.items()
        for row in client.describe_datasets(handle)
    ]


def _assets(fed: Federation, site: str, experiment: ExperimentConfig) -> dict[str, Any]:
    from researcher.syftio import client

    return client.site_assets(fed.clients[site], site, experiment.dataset, experiment.inputs)


def _site(fed: Federation, name: str) -> Any:
    return next(site for site in fed.sites.sites if site.name == name)


def privacy_cost(
    fed: Federation, experiment: ExperimentConfig
) -> tuple[dict[str, PrivacyPlan], list[dict[str, Any]]]:
    """Per site: the plan (noise, declared epsilon over every approved training round, from
    Opacus' accountant for that site's training-set size) and a row comparing the cost with
    the site's remaining budget. Empty without ``[privacy]``."""
    plans: dict[str, PrivacyPlan] = {}
    rows = []
    for site in fed.clients:
        found = privacy.site_privacy(_site(fed, site), experiment.dataset, fed.env)
        if experiment.privacy is not None:
            plans[site] = privacy.plan_for(experiment, int(found["n_train"]))
        rows.append(privacy.cost_row(site, found, plans.get(site)))
    return plans, rows


def code_environments(fed: Federation) -> dict[str, CodeEnvironment]:
    """What each reachable site lets tasks import (module -> version)."""
    entries = {site.name: site for site in fed.sites.sites}
    return {name: siteenv.fetch(entries[name], fed.env) for name in fed.clients}


def check(
    fed: Federation,
    experiment: ExperimentConfig,
    task: TaskFn | SiteTask | None = None,
    plans: Mapping[str, PrivacyPlan] | None = None,
) -> tuple[OutputSchema, dict[str, dict[str, float]]]:
    """The contract check, before anything is sent: the task's signature and outside names,
    its imports against every site's code environment, then ``init`` / one tiny ``train`` /
    ``evaluate`` on every site's mock data in a separate process. Returns the declared output
    schema and each site's mock evaluation metrics. With ``[privacy]`` the task's ``config``
    carries a site's privacy plan (``plans``, or computed by :func:`privacy_cost`).

    Raises:
        TaskError: naming the problem, the site and the line of the task.
    """
    from researcher.syftio import client

    found = resolve(experiment.task, task)
    problems = static_problems(found)
    problems += import_problems(found, list(code_environments(fed).values()))
    if problems:
        raise TaskError(
            f"The task {found.name} breaks the contract; nothing was submitted:\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    mocks = {site: client.mock_arrays(_assets(fed, site, experiment)) for site in fed.clients}
    return taskcheck.check_task(found, mocks, _check_config(fed, experiment, plans))


def _check_config(
    fed: Federation, experiment: ExperimentConfig, plans: Mapping[str, PrivacyPlan] | None
) -> dict[str, Any]:
    """The ``config`` of the mock check: with ``[privacy]``, one site's plan in it."""
    if experiment.privacy is None:
        return experiment.site_config()
    if plans is None:
        plans = privacy_cost(fed, experiment)[0]
    return privacy.config_with_plan(experiment, next(iter(plans.values()), None))


def dry_run(
    fed: Federation,
    experiment: ExperimentConfig,
    task: TaskFn | SiteTask | None = None,
    plans: Mapping[str, PrivacyPlan] | None = None,
) -> dict[str, dict[str, float]]:
    """The contract check (:func:`check`); returns the mock validation metrics per site."""
    return check(fed, experiment, task, plans)[1]


def submit(
    fed: Federation,
    experiment: ExperimentConfig,
    task: TaskFn | SiteTask | None = None,
    plans: Mapping[str, PrivacyPlan] | None = None,
) -> dict[str, str]:
    """Check the task (:func:`check`), then create the code request at every site, with the
    declared output schema bound for the site's egress policy. With ``[privacy]`` each site's
    request carries its plan (pass ``plans`` from :func:`privacy_cost` to reuse what the
    researcher was shown)."""
    from researcher.syftio import code

    _require_all(fed)
    found = resolve(experiment.task, task)
    if experiment.privacy is not None and plans is None:
        plans = privacy_cost(fed, experiment)[0]
    schema, _ = check(fed, experiment, found, plans)
    plans = plans or {}
    return {
        site: code.submit(
            handle, site, _assets(fed, site, experiment), experiment, found, schema, plans.get(site)
        )
        for site, handle in fed.clients.items()
    }


def status(
    fed: Federation,
    experiment: ExperimentConfig | None = None,
    task: TaskFn | SiteTask | None = None,
) -> list[dict[str, Any]]:
    """Per site and function: status (pending / approved / denied / not submitted /
    unreachable), the admin's reason, and executions used of the approved budget. Without
    ``experiment``, every function this researcher submitted there."""
    from researcher.syftio import code

    rows = []
    site_task = resolve(experiment.task, task) if experiment else None
    for site, handle in fed.clients.items():
        found = (
            [code.status(handle, experiment, site_task)] if experiment else code.all_status(handle)
        )
        extra = _remaining(fed, site, experiment) if experiment else {}
        rows += [{"site": site, **row, **extra} for row in found]
    rows += [{"site": s, "status": "unreachable", "reason": r} for s, r in fed.errors.items()]
    return rows


def _remaining(fed: Federation, site: str, experiment: ExperimentConfig) -> dict[str, Any]:
    """The site's remaining privacy budget for the experiment's dataset."""
    try:
        found = privacy.site_privacy(_site(fed, site), experiment.dataset, fed.env)
    except ResearcherError as err:
        log.info("%s", err.message)
        return {"privacy_remaining": "unknown"}
    budget = found.get("budget")
    return {"privacy_remaining": round(budget["remaining"], 4) if budget else "no budget"}


def train(
    fed: Federation,
    experiment: ExperimentConfig,
    out: Path | str,
    progress: Progress | None = None,
    task: TaskFn | SiteTask | None = None,
) -> dict[str, Any]:
    """Run (or resume) federated training over every reachable site; returns the summary.

    Raises:
        TrainingError: fewer than ``min_sites`` sites reachable or training in a round.
    """
    from researcher.syftio.site import SyftSite

    required = experiment.required_sites(len(fed.clients) + len(fed.errors))
    if len(fed.clients) < required:
        raise TrainingError(
            f"Only {len(fed.clients)} site(s) reachable, min_sites={required}: {fed.errors}"
        )
    found = resolve(experiment.task, task)
    sites = [
        SyftSite(name, handle, _assets(fed, name, experiment), experiment, found)
        for name, handle in fed.clients.items()
    ]
    # A stale API is refetched here, not inside the first round; at once, since each refetch
    # waits on its site for part of its ~1.7 s (3 sites: 5.1 s one by one, 4.0 s at once).
    _at_every_site(SyftSite.look_up, sites)
    coordinator = Coordinator(sites, experiment, Path(out), progress)
    return coordinator.run(initial_weights(experiment.site_config(), found))


def _require_all(fed: Federation) -> None:
    if fed.errors:
        details = "; ".join(fed.errors.values())
        raise SubmissionError(f"Cannot submit while sites are unreachable: {details}")
