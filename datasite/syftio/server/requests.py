"""Server side: syft 0.9.5 requests and user code as plain dicts, read with root credentials.

Used by the audit hooks (what a submitted request binds) and by the site API (request history
for admins and compliance). Runs inside the datasite process only.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from datasite import codeenv
from datasite.review.findings import Finding, code_diff, function_stem, normalized_hash, worst
from datasite.review.risk import risk_report

log = logging.getLogger(__name__)
_code_env_dir: list[Path] = []  # the site's data dir, set once at start (use_code_environment)


def use_code_environment(data_dir: Path) -> None:
    """Check every request's imports against the code environment kept in ``data_dir``."""
    _code_env_dir[:] = [Path(data_dir)]


def _allowed_modules() -> frozenset[str] | None:
    return frozenset(codeenv.allowed_names(_code_env_dir[0])) if _code_env_dir else None


def root_context(worker: Any) -> Any:
    from syft.service.context import AuthedServiceContext
    from syft.service.user.user_roles import ServiceRole

    return AuthedServiceContext(
        server=worker, credentials=worker.verify_key, role=ServiceRole.ADMIN
    )


def email_for(worker: Any, verify_key: Any) -> str:
    """The email of the user holding ``verify_key``."""
    if verify_key is None:
        return "unknown"
    stash = worker.services.user.stash
    try:
        user = stash.get_by_verify_key(credentials=worker.verify_key, verify_key=verify_key)
        return str(user.unwrap().email)  # the root admin shares the server's key
    except Exception:  # noqa: BLE001 - a deleted user still gets a record
        return "site" if verify_key == worker.verify_key else f"key:{str(verify_key)[:16]}"


def email_for_uid(worker: Any, uid: Any) -> str | None:
    try:
        return str(worker.services.user.stash.get_by_uid(worker.verify_key, uid).unwrap().email)
    except Exception:  # noqa: BLE001 - unknown user: the record says so
        return None


def asset_index(worker: Any) -> dict[str, dict[str, Any]]:
    """Asset action id (hex) -> {name: "dataset/asset", shape}."""
    index: dict[str, dict[str, Any]] = {}
    datasets = worker.services.dataset.stash.get_all(worker.verify_key).unwrap()
    for dataset in datasets:
        for asset in dataset.asset_list:
            shape = [int(d) for d in asset.shape] if asset.shape else []
            index[asset.action_id.no_dash] = {
                "name": f"{dataset.name}/{asset.name}",
                "shape": shape,
            }
    return index


def _binding(rule: Any, assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    kind = type(rule).__name__
    uid = getattr(rule, "val", rule) if kind in ("Matches", "UID") else None
    if uid is not None and hasattr(uid, "no_dash"):
        found = assets.get(uid.no_dash, {})
        return {"kind": "asset", "id": uid.no_dash, "asset": found.get("name", "unknown"),
                "shape": found.get("shape", [])}  # fmt: skip
    if kind == "UserOwned":
        return {"kind": "researcher", "type": getattr(rule.type, "__name__", str(rule.type))}
    if kind == "Constant":
        return {"kind": "constant", "value": repr(rule.val)[:200]}
    return {"kind": kind}


def bindings(code: Any, assets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each argument of the function: an asset, a researcher-owned value or a constant."""
    out: dict[str, dict[str, Any]] = {}
    for per_server in (code.input_policy_init_kwargs or {}).values():
        for arg, rule in per_server.items():
            out[str(arg)] = _binding(rule, assets)
    return out


def policies(code: Any) -> dict[str, Any]:
    kwargs = code.output_policy_init_kwargs or {}
    return {
        "input_policy": getattr(code.input_policy_type, "__name__", str(code.input_policy_type)),
        "output_policy": getattr(code.output_policy_type, "__name__", str(code.output_policy_type)),
        "execution_limit": kwargs.get("limit"),
    }


def code_facts(worker: Any, code: Any, assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What an admin reviews and an auditor checks about one user code."""
    bound = bindings(code, assets)
    asset_args = {arg for arg, b in bound.items() if b["kind"] == "asset"}
    try:
        report = risk_report(code.raw_code, asset_args, _allowed_modules())
        findings = [f.model_dump(mode="json") for f in report]
        digest = normalized_hash(code.raw_code)
    except Exception as err:  # noqa: BLE001 - unparseable code is itself a finding
        findings = [{"severity": "high", "category": "parse", "line": 0, "message": str(err)}]
        digest = "unparseable"
    return {
        "code_id": code.id.no_dash,
        "function": code.service_func_name,
        "code": code.raw_code,
        "code_hash": digest,
        "syft_code_hash": code.code_hash,
        "submitted_by": email_for(worker, code.user_verify_key),
        "bindings": bound,
        "policies": policies(code),
        "risk": {"worst": str(worst([_as_finding(f) for f in findings])), "findings": findings},
    }


def _as_finding(raw: dict[str, Any]) -> Any:

    return Finding.model_validate(raw)


def status_of(request: Any) -> str:
    states = {}
    for change_status in request.history:
        states[change_status.change_id] = change_status.applied
    if not states:
        return "pending"
    if all(states.values()) and len(states) == len(request.changes):
        return "approved"
    return "revoked" if any(s.applied for s in request.history) else "denied"


def request_facts(worker: Any, request: Any, assets: dict[str, dict[str, Any]]) -> dict[str, Any]:
    context = root_context(worker)
    code = request.get_user_code(context).unwrap()
    status = status_of(request)
    facts = code_facts(worker, code, assets)
    try:
        executions = len(code.get_output_history(context=context).unwrap())
    except Exception:  # noqa: BLE001 - no history yet
        executions = 0
    return {
        "request_id": request.id.no_dash,
        "requester": email_for(worker, request.requesting_user_verify_key),
        "request_time": str(request.request_time),
        "status": status,
        "deny_reason": request.get_deny_reason(context).unwrap()
        if status != "approved" and status != "pending"
        else None,
        "executions": executions,
        **facts,
    }


def all_requests(worker: Any) -> list[dict[str, Any]]:
    """Every code request on the site, oldest first."""
    assets = asset_index(worker)
    requests = worker.services.request.stash.get_all(worker.verify_key).unwrap()
    out = []
    for request in requests:
        try:
            out.append(request_facts(worker, request, assets))
        except Exception:
            log.exception("cannot describe request %s", request.id)
    return sorted(out, key=lambda r: r["request_time"])


def with_previous_version(facts: dict[str, Any], every: list[dict[str, Any]]) -> dict[str, Any]:
    """Add ``previous_approved`` + ``diff``: the same researcher's latest approved request for
    a function with the same name stem (train_v1 -> train_v2), submitted before this one."""
    stem = function_stem(facts["function"])
    earlier = [
        r for r in every
        if r["requester"] == facts["requester"] and r["status"] == "approved"
        and r["request_id"] != facts["request_id"] and r["request_time"] <= facts["request_time"]
        and function_stem(r["function"]) == stem
    ]  # fmt: skip
    if not earlier:
        return {**facts, "previous_approved": None, "diff": None}
    prev = earlier[-1]
    label = f"{prev['function']} (approved, request {prev['request_id'][:8]})"
    diff = code_diff(prev["code"], facts["code"], label, f"{facts['function']} (this request)")
    summary = {k: prev[k] for k in ("request_id", "function", "code_hash", "request_time")}
    return {**facts, "previous_approved": summary, "diff": diff}
