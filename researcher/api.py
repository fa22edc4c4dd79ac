"""The researcher's Python API (notebooks call this; the ``researcher`` CLI is a shell over it).

from researcher import api
fed = api.connect(api.load_sites("sites.toml"))       # log in to every site
api.list_datasets(fed)                                  # datasets and assets per site
exp = api.load_experiment("experiment.toml")
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

from researcher.config import ExperimentConfig, SitesConfig, load_experiment, load_sites
from researcher.coordinator import Coordinator, Progress
from researcher.errors import ResearcherError, SubmissionError, TrainingError
from researcher.inmemory import initial_weights
from researcher.site_code import federated_step

__all__ = [
    "Federation",
    "connect",
    "dry_run",
    "list_datasets",
    "load_experiment",
    "load_sites",
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


def connect(sites: SitesConfig, env: Mapping[str, str] | None = None) -> Federation:
    """Log in to every site; a site that fails is listed in ``errors`` with the reason."""
    from researcher.syftio import client

    fed = Federation(sites)
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


def dry_run(fed: Federation, experiment: ExperimentConfig) -> dict[str, dict[str, float]]:
    """Run the site function locally on each site's mock data: one training and one
    evaluation call. Returns the mock validation metrics per site.

    Raises:
        SubmissionError: with the local error, naming the site whose mock made it fail.
    """
    from researcher.syftio import client

    config = experiment.site_config()
    results = {}
    for site in fed.clients:
        mock = client.mock_arrays(_assets(fed, site, experiment))
        try:
            trained = federated_step(**mock, weights={}, task="train", round_index=1, config=config)
            scored = federated_step(
                **mock, weights=trained["weights"], task="evaluate", round_index=1, config=config
            )
        except Exception as err:  # any failure on mock stops the submission
            raise SubmissionError(
                f"Site {site}: the site function failed on the mock data "
                f"({type(err).__name__}: {err}). Fix the experiment before submitting."
            ) from err
        results[site] = scored["metrics"]
    return results


def submit(fed: Federation, experiment: ExperimentConfig) -> dict[str, str]:
    """Dry-run on every mock, then create the code request at every site."""
    from researcher.syftio import code

    _require_all(fed)
    dry_run(fed, experiment)
    return {
        site: code.submit(handle, site, _assets(fed, site, experiment), experiment)
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
        rows += [{"site": site, **row} for row in found]
    rows += [{"site": s, "status": "unreachable", "reason": r} for s, r in fed.errors.items()]
    return rows


def train(
    fed: Federation, experiment: ExperimentConfig, out: Path | str, progress: Progress | None = None
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
    sites = [
        SyftSite(name, handle, _assets(fed, name, experiment), experiment)
        for name, handle in fed.clients.items()
    ]
    coordinator = Coordinator(sites, experiment, Path(out), progress)
    return coordinator.run(initial_weights(experiment.site_config()))


def _require_all(fed: Federation) -> None:
    if fed.errors:
        details = "; ".join(fed.errors.values())
        raise SubmissionError(f"Cannot submit while sites are unreachable: {details}")
