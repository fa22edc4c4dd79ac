"""The researcher's view of differential privacy: the cost a request declares at each site
(from Opacus' accountant, before submission) and each site's remaining budget.

The site publishes its training-set size and its budget's totals at ``/site/privacy/DATASET``
(HTTP Basic with the researcher's own account; no syft here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from fedcommon.privacy import CONFIG_KEY, PrivacyError, PrivacyPlan, plan
from researcher.config import ExperimentConfig, SiteConfig
from researcher.errors import NotFoundError, SiteUnreachableError, SubmissionError


def site_privacy(
    site: SiteConfig, dataset: str, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``{"n_train": int, "budget": {...} | None}`` for ``dataset`` at ``site``."""
    email, password = site.credentials(env)
    url = f"{site.url.rstrip('/')}/site/privacy/{dataset}"
    try:
        response = httpx.get(url, auth=(email, password), timeout=30.0)
    except httpx.HTTPError as err:
        raise SiteUnreachableError(f"Site {site.name}: cannot reach {url} ({err}).") from None
    if response.status_code == 404:
        raise NotFoundError(f"Site {site.name}: no dataset named '{dataset}'.")
    if response.status_code >= 400:
        raise SiteUnreachableError(
            f"Site {site.name}: the privacy ledger answered {response.status_code}."
        )
    found: dict[str, Any] = response.json()
    return found


def rounds_declared(experiment: ExperimentConfig) -> int:
    """Training rounds one approval may run: the planned rounds plus the spare executions
    (a re-run round trains again and spends again)."""
    return experiment.rounds + experiment.spare_executions


def plan_for(experiment: ExperimentConfig, n_train: int) -> PrivacyPlan:
    """The plan (noise, cost per round) of ``experiment`` at a site with ``n_train`` images."""
    if experiment.privacy is None:
        raise SubmissionError("The experiment has no [privacy] table.")
    try:
        return plan(experiment.privacy, n_train, experiment.batch_size,
                    experiment.local_epochs, rounds_declared(experiment))  # fmt: skip
    except PrivacyError as err:
        raise SubmissionError(err.message) from None


def cost_row(site: str, found: dict[str, Any], declared: PrivacyPlan | None) -> dict[str, Any]:
    """One line of the cost table: what this request declares against what remains."""
    budget = found.get("budget")
    return {
        "site": site,
        "n_train": found.get("n_train"),
        "epsilon": round(declared.epsilon, 4) if declared else None,
        "delta": declared.delta if declared else None,
        "noise_multiplier": round(declared.noise_multiplier, 4) if declared else None,
        "budget": budget["epsilon"] if budget else None,
        "remaining": round(budget["remaining"], 4) if budget else None,
    }


def config_with_plan(experiment: ExperimentConfig, declared: PrivacyPlan | None) -> dict[str, Any]:
    """The constant config: the experiment's settings plus this site's privacy plan (its
    declared cost), which the caller cannot override and the site's ledger enforces."""
    config = experiment.site_config()
    return {**config, CONFIG_KEY: declared.model_dump(mode="json")} if declared else config
