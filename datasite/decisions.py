"""Reviewing code requests: list, read, dry-run, record the review, decide.

The library behind ``datasite requests`` and ``datasite.api``. Reads go through the site API
(``/site``, any admin or compliance account); decisions through syft's client (admins only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from datasite.config import AdminCredentials
from datasite.errors import AuthError, ConfigError
from datasite.review.facts import DryRunResult, RequestFacts, RequestList, RequestStatus
from datasite.review.findings import ReviewError
from datasite.siteclient import SiteAPI

STATUSES = tuple(s.value for s in RequestStatus)
ACTIONS = ("approve", "deny", "revoke")


def list_requests(
    url: str, creds: AdminCredentials, status: str | None = None
) -> list[RequestFacts]:
    """The site's code requests, oldest first (optionally only those with ``status``)."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status {status}: use one of {', '.join(STATUSES)}.")
    found = SiteAPI(url, creds).get("/requests", status=status)
    return RequestList.model_validate(found).requests


def request_facts(url: str, creds: AdminCredentials, request_id: str) -> RequestFacts:
    """Everything needed to decide: code, hashes, bindings, policies, risk report, diff."""
    return RequestFacts.model_validate(SiteAPI(url, creds).get(f"/requests/{request_id}"))


def load_samples(path: Path | None) -> dict[str, Any]:
    """Sample values for researcher-owned arguments from a JSON file (``{}`` without one)."""
    if path is None:
        return {}
    try:
        samples = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"--sample-args {path}: not a readable JSON file ({err}).") from None
    if not isinstance(samples, dict):
        raise ConfigError(f"--sample-args {path}: must hold an object {{argument: value}}.")
    return samples


def dry_run(
    url: str, creds: AdminCredentials, facts: RequestFacts, samples: dict[str, Any],
    timeout_s: float = 120.0,
) -> DryRunResult:  # fmt: skip
    """Run the request on mock data in a child process; describe what would leave the site."""
    from datasite.syftio.review_client import dry_run as run_dry

    return run_dry(url, creds, facts, samples, timeout_s)


def record_review(
    url: str, creds: AdminCredentials, facts: RequestFacts, dry: DryRunResult | None
) -> str:
    """Record the review in the site's audit log (admins only); returns a note saying so."""
    body = {**facts.audit_details("function", "code_hash", "risk"),
            "dry_run": dry.model_dump(mode="json") if dry else None}  # fmt: skip
    try:
        seq = SiteAPI(url, creds).post(f"/requests/{facts.request_id}/review", body)["seq"]
    except AuthError:
        return "review not recorded in the audit log (only admins' reviews are)"
    return f"review recorded in the audit log (seq {seq})"


def _refuse_outside_environment(facts: RequestFacts) -> None:
    outside = [f for f in facts.risk.findings if f.category == "environment"]
    if outside:
        lines = "; ".join(f"line {f.line}: {f.message}" for f in outside)
        raise ReviewError(
            f"Cannot approve {facts.function}: {lines}. Deny it (the researcher sees your "
            "reason), or allow the module first (datasite env allow --data-dir DIR NAME)."
        )


def decide(
    url: str, creds: AdminCredentials, request_id: str, action: str, reason: str,
    accept_risk: bool = False,
) -> str:  # fmt: skip
    """``approve`` / ``deny`` / ``revoke`` a request (admins only); returns its function name.

    Approving a request with a HIGH risk finding needs ``accept_risk``: the site records the
    acknowledgement in its audit log first (and refuses the approval without it).

    Raises:
        ConfigError: unknown action, or no reason for a denial or revocation.
        ReviewError: imports outside the site's environment, or HIGH findings not accepted.
    """
    from datasite.syftio.review_client import decide as run_decision

    if action not in ACTIONS:
        raise ConfigError(f"Unknown decision '{action}': use one of {', '.join(ACTIONS)}.")
    if action != "approve" and not reason.strip():
        raise ConfigError("--reason must say why (the researcher sees it); it is empty.")
    if action == "approve":
        _check_approvable(url, creds, request_facts(url, creds, request_id), accept_risk)
    return run_decision(url, creds, request_id, action, reason.strip())


def _check_approvable(
    url: str, creds: AdminCredentials, facts: RequestFacts, accept_risk: bool
) -> None:
    _refuse_outside_environment(facts)
    if not facts.risk.has_high:
        return
    high = facts.risk.high_lines()
    if not accept_risk:
        raise ReviewError(
            f"Not approved: {facts.function} has HIGH risk findings ({high}). Read them "
            f"(datasite requests show --url {url} {facts.request_id[:12]}); to approve anyway, add "
            "--accept-risk (your acknowledgement is recorded in the site's audit log)."
        )
    SiteAPI(url, creds).post(f"/requests/{facts.request_id}/accept-risk", {})
