"""The researcher's Python API (notebooks call this; the ``researcher`` CLI is a shell over it).

from researcher import api
fed = api.connect(api.load_sites("sites.toml"))       # log in to every site
api.list_datasets(fed)                                  # datasets and assets per site
exp = api.load_experiment("experiment.toml")
api.privacy_cost(fed, exp)                              # DP: declared epsilon per site
api.dry_run(fed, exp)                                   # the site function on each mock
api.submit(fed, exp)                                    # dry run, then a request per site
api.status(fed, exp)                                    # pending / approved / denied, budget
api.train(fed, exp, "runs/first")                       # the coordinator (resumes)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fedcommon.privacy import PrivacyPlan
from researcher import privacy, tasks
from researcher.config import ExperimentConfig, SitesConfig, load_experiment, load_sites
from researcher.coordinator import Coordinator, Progress
from researcher.errors import ResearcherError, SubmissionError, TrainingError

__all__ = [
    "Federation",
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


@dataclass
class Federation:
    """Logged-in clients per site, and the reason for each site that could not be reached."""

    sites: SitesConfig
    clients: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    env: Mapping[str, str] | None = None  # where the credential variables are read


def connect(sites: SitesConfig, env: Mapping[str, str] | None = None) -> Federation:
    """Log in to every site; a site that fails is listed in ``errors`` with the reason."""
    from researcher.syftio import client

    fed = Federation(sites, env=env)
    for site in sites.sites:
        try:
            fed.clients[site.name] = client.connect(site, env)
        except ResearcherError as err:
            log.info("%s", err.message)
            fed.errors[site.name] = err.message
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

    return client.site_assets(fed.clients[site], site, experiment.dataset)


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


def dry_run(
    fed: Federation, experiment: ExperimentConfig, plans: Mapping[str, PrivacyPlan] | None = None
) -> dict[str, dict[str, float]]:
    """Run the site function locally on each site's mock data: one training and one
    evaluation call. Returns the mock validation metrics per site.

    Raises:
        SubmissionError: with the local error, naming the site whose mock made it fail.
    """
    from researcher.syftio import client

    step = tasks.experiment_function(experiment)
    results = {}
    for site in fed.clients:
        config = privacy.config_with_plan(experiment, (plans or {}).get(site))
        mock = client.mock_arrays(_assets(fed, site, experiment))
        try:
            trained = step(**mock, weights={}, task="train", round_index=1, config=config)
            scored = step(
                **mock, weights=trained["weights"], task="evaluate", round_index=1, config=config
            )
        except Exception as err:  # any failure on mock stops the submission
            raise SubmissionError(
                f"Site {site}: the site function failed on the mock data "
                f"({type(err).__name__}: {err}). Fix the experiment before submitting."
            ) from err
        results[site] = scored["metrics"]
    return results


def submit(
    fed: Federation, experiment: ExperimentConfig, plans: Mapping[str, PrivacyPlan] | None = None
) -> dict[str, str]:
    """Dry-run on every mock, then create the code request at every site. With ``[privacy]``
    each site's request carries its plan (pass ``plans`` from :func:`privacy_cost` to reuse
    what the researcher was shown)."""
    from researcher.syftio import code

    _require_all(fed)
    if experiment.privacy is not None and plans is None:
        plans = privacy_cost(fed, experiment)[0]
    dry_run(fed, experiment, plans)
    return {
        site: code.submit(
            handle, site, _assets(fed, site, experiment), experiment, (plans or {}).get(site)
        )
        for site, handle in fed.clients.items()
    }


def status(fed: Federation, experiment: ExperimentConfig | None = None) -> list[dict[str, Any]]:
    """Per site and function: status (pending / approved / denied / not submitted /
    unreachable), the admin's reason, and executions used of the approved budget. Without
    ``experiment``, every function this researcher submitted there."""
    from researcher.syftio import code

    rows = []
    for site, handle in fed.clients.items():
        found = [code.status(handle, experiment)] if experiment else code.all_status(handle)
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
    fed: Federation, experiment: ExperimentConfig, out: Path | str, progress: Progress | None = None
) -> dict[str, Any]:
    """Run (or resume) federated training over every reachable site; returns the summary.

    Raises:
        TrainingError: fewer than ``min_sites`` sites reachable or training in a round.
    """
    from researcher.syftio.site import SyftSite

    if len(fed.clients) < experiment.min_sites:
        raise TrainingError(
            f"Only {len(fed.clients)} site(s) reachable, min_sites={experiment.min_sites}: "
            f"{fed.errors}"
        )
    sites = [
        SyftSite(name, handle, _assets(fed, name, experiment), experiment)
        for name, handle in fed.clients.items()
    ]
    coordinator = Coordinator(sites, experiment, Path(out), progress)
    step = tasks.experiment_function(experiment)
    return coordinator.run(tasks.initial_weights(step, experiment.site_config()))


def _require_all(fed: Federation) -> None:
    if fed.errors:
        details = "; ".join(fed.errors.values())
        raise SubmissionError(f"Cannot submit while sites are unreachable: {details}")
