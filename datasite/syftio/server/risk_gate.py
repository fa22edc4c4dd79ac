"""Approving a request with a HIGH risk finding needs an acknowledgement the audit log keeps.

The admin acknowledges with ``datasite requests approve URL ID --accept-risk``, which first
calls ``POST /site/requests/{id}/accept-risk``: the site recomputes the request's risk report
and appends a ``risk_accepted`` record (who, the request, its code hash, the HIGH findings).
The approval itself is checked inside the datasite process (the audit hook of
``request.apply``, ``Recorder.risk_gate``), so an approval through any client, a
notebook's ``request.approve()`` included, is refused until that record exists for the same
request and code hash. A refused approval is audited as ``approval_refused``.
"""

from __future__ import annotations

from typing import Any

from datasite.audit.log import AuditLog
from datasite.review.facts import RequestFacts

ACCEPTED_EVENT = "risk_accepted"


def not_accepted_message(facts: RequestFacts) -> str:
    lines = facts.risk.high_lines()
    return (
        f"Request {facts.request_id[:12]} ({facts.function}) has HIGH risk findings "
        f"({lines[:300]}). "
        "Read them (datasite requests show --url URL ID); to approve anyway use "
        "'datasite requests approve --url URL ID --accept-risk' (audited)."
    )


def acceptance(audit: AuditLog, facts: RequestFacts) -> dict[str, Any] | None:
    """The ``risk_accepted`` record for this request and code hash, if the admin made one."""
    for record in reversed(audit.records()):
        details = record.get("details") or {}
        if (record.get("event") == ACCEPTED_EVENT
                and details.get("request_id") == facts.request_id
                and details.get("code_hash") == facts.code_hash):  # fmt: skip
            return record
    return None


def accept(audit: AuditLog, actor: str, facts: RequestFacts) -> dict[str, Any]:
    """Record the admin's acknowledgement of the request's HIGH findings."""
    if not facts.risk.has_high:
        return {"needed": False}
    high = [f"line {f.line}: {f.category}" for f in facts.risk.findings if f.severity == "high"]
    details = {**facts.audit_details("request_id", "function", "code_hash"), "high": high}
    record = audit.append(ACCEPTED_EVENT, actor, details)
    return {"needed": True, "seq": record["seq"], "hash": record["hash"]}
