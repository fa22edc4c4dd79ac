"""The ledger over the site API (``/site/privacy``): what the CLI and notebooks call."""

from __future__ import annotations

from typing import Any

from datasite.config import AdminCredentials
from datasite.siteclient import SiteAPI


def set_budget(
    url: str, creds: AdminCredentials, dataset: str, epsilon: float, delta: float,
    allow_non_dp: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Set ``dataset``'s privacy budget (admins only): the most it may ever spend."""
    body = {"dataset": dataset, "epsilon": epsilon, "delta": delta, "allow_non_dp": allow_non_dp}
    return SiteAPI(url, creds).post("/privacy", body)


def show(url: str, creds: AdminCredentials, dataset: str | None = None) -> list[dict[str, Any]]:
    """Every budgeted dataset (or one): budget, spent, reserved, remaining, and the requests
    that spent it (admins and compliance)."""
    found: list[dict[str, Any]] = SiteAPI(url, creds).get("/privacy")["datasets"]
    return [d for d in found if dataset is None or d["dataset"] == dataset]
