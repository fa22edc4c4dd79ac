"""Server side: syft 0.9.5 requests and user code as :class:`RequestFacts`, read as root.

Used by the audit hooks (what a submitted request binds) and by the site API (request history
for admins and compliance). Runs inside the datasite process only.
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import threading
from pathlib import Path
from typing import Any

from datasite import codeenv
from datasite.review.facts import (
    Binding,
    BindingKind,
    DeclaredOutput,
    Policies,
    PreviousVersion,
    RequestFacts,
    RequestStatus,
    RiskSummary,
)
from datasite.review.findings import (
    Finding,
    Severity,
    code_diff,
    function_stem,
    normalized_hash,
    worst,
)
from datasite.review.risk import risk_report
from datasite.sandbox.release import HISTOGRAM_BYTES, SchemaError, parse_declared
from datasite.syftio.server import history
from fedcommon.task_schema import SCHEMA_ARGUMENT

log = logging.getLogger(__name__)
_code_env_dir: list[Path] = []  # the site's data dir, set once at start (use_code_environment)
_indexes: dict[Any, tuple[list[tuple[str, Any]], dict[str, dict[str, Any]]]] = {}
_index_lock = threading.Lock()


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


_request_ids: dict[str, str] = {}  # user code id -> the id of the request that submitted it


def request_id_for_code(worker: Any, code_id: Any) -> str | None:
    """The id (hex) of the request that submitted user code ``code_id``; None if none is
    stored. A code's request never changes, so each one is looked up once per process (every
    approved call needs it twice: the audit record and the privacy charge)."""
    key = str(code_id)
    if key not in _request_ids:
        stash = worker.services.request.stash
        found = stash.get_by_usercode_id(worker.verify_key, code_id).unwrap()
        if not found:
            return None
        _request_ids[key] = str(found[0].id.no_dash)
    return _request_ids[key]


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
    """Asset action id (hex) -> {name: "dataset/asset", shape}.

    Every approved call needs it (the audit record, the privacy charge, the pruner) and
    deserializing every dataset each time cost more with each dataset a site holds: the index
    is rebuilt only when the datasets' stored rows differ from those it was built from (the
    rows are compared as stored, not deserialized; the same root read ``get_all`` does).
    """
    stash = worker.services.dataset.stash
    found = sorted(history.rows(stash, worker.verify_key, {}), key=lambda row: str(row.id))
    stored = [(str(row.id), row.fields) for row in found]
    with _index_lock:
        kept = _indexes.get(worker.id)
        if kept is not None and kept[0] == stored:
            return copy.deepcopy(kept[1])
    index: dict[str, dict[str, Any]] = {}
    for dataset in (stash.row_as_obj(row) for row in found):
        for asset in dataset.asset_list:
            shape = [int(d) for d in asset.shape] if asset.shape else []
            index[asset.action_id.no_dash] = {
                "name": f"{dataset.name}/{asset.name}",
                "shape": shape,
            }
    with _index_lock:
        _indexes[worker.id] = (stored, index)
    return copy.deepcopy(index)


def _binding(rule: Any, assets: dict[str, dict[str, Any]]) -> Binding:
    kind = type(rule).__name__
    uid = getattr(rule, "val", rule) if kind in ("Matches", "UID") else None
    if uid is not None and hasattr(uid, "no_dash"):
        found = assets.get(uid.no_dash, {})
        name, shape = found.get("name", "unknown"), found.get("shape", [])
        return Binding(kind=BindingKind.ASSET, id=uid.no_dash, asset=name, shape=shape)
    if kind == "UserOwned":
        return Binding(
            kind=BindingKind.RESEARCHER, type=getattr(rule.type, "__name__", str(rule.type))
        )
    if kind == "Constant":
        return Binding(kind=BindingKind.CONSTANT, value=repr(rule.val)[:200])
    return Binding(kind=BindingKind.OTHER, rule=kind)


def bindings(code: Any, assets: dict[str, dict[str, Any]]) -> dict[str, Binding]:
    """Each argument of the function: an asset, a researcher-owned value or a constant."""
    out: dict[str, Binding] = {}
    for per_server in (code.input_policy_init_kwargs or {}).values():
        for arg, rule in per_server.items():
            out[str(arg)] = _binding(rule, assets)
    return out


def constant(code: Any, name: str) -> tuple[bool, Any]:
    """(found, value) of the ``sy.Constant`` bound to argument ``name``."""
    for per_server in (code.input_policy_init_kwargs or {}).values():
        for arg, rule in per_server.items():
            if str(arg) == name and type(rule).__name__ == "Constant":
                return True, rule.val
    return False, None


def declared_output(code: Any) -> DeclaredOutput | None:
    """The output schema the request declares, as the admin reads it (None: none)."""
    found, value = constant(code, SCHEMA_ARGUMENT)
    if not found:
        return None
    try:
        declared = parse_declared(value)
    except SchemaError as err:
        return DeclaredOutput(error=str(err))
    if declared is None:
        return None
    return DeclaredOutput(
        weight_arrays=len(declared.weights),
        parameters=sum(math.prod(spec.shape) for spec in declared.weights.values()),
        metrics=list(declared.metrics),
        max_bytes=declared.max_bytes + HISTOGRAM_BYTES,
    )


RELEASED_ONLY_AS_DECLARED = " (lowered from high: this site releases only the declared outputs)"
PRINTS_DISCARDED = " (lowered from high: the sealed worker discards what code prints)"


def with_enforcement(summary: RiskSummary, declared: DeclaredOutput | None) -> RiskSummary:
    """The risk report, with the egress findings this site enforces itself lowered to medium:
    when code runs sealed, prints never reach a log, and a request with a valid declared
    output schema cannot release asset-shaped data (the egress policy refuses it)."""
    from datasite.syftio.server import sealed

    if sealed.describe()["execution"] != "sealed":
        return summary
    schema = declared is not None and declared.error is None
    findings = [_lowered(f, schema) for f in summary.findings]
    return RiskSummary(worst=worst(findings), findings=findings)


def _lowered(finding: Finding, schema: bool) -> Finding:
    if finding.category != "egress" or finding.severity is not Severity.HIGH:
        return finding
    if finding.message.startswith("prints"):
        note = PRINTS_DISCARDED
    elif schema:
        note = RELEASED_ONLY_AS_DECLARED
    else:
        return finding
    return finding.model_copy(
        update={"severity": Severity.MEDIUM, "message": finding.message + note}
    )


def policies(code: Any) -> Policies:
    kwargs = code.output_policy_init_kwargs or {}
    return Policies(
        input_policy=getattr(code.input_policy_type, "__name__", str(code.input_policy_type)),
        output_policy=getattr(code.output_policy_type, "__name__", str(code.output_policy_type)),
        execution_limit=kwargs.get("limit"),
    )


def risk(code: str, asset_args: set[str]) -> tuple[RiskSummary, str]:
    """The risk report and normalised hash; unparseable code is itself a HIGH finding.
    Every listing describes every request, so reports are kept per code, bound assets and
    code environment (a request's code never changes)."""
    return _risk(code, frozenset(asset_args), _allowed_modules())


@functools.lru_cache(maxsize=512)
def _risk(
    code: str, asset_args: frozenset[str], allowed: frozenset[str] | None
) -> tuple[RiskSummary, str]:
    try:
        findings = risk_report(code, set(asset_args), allowed)
        digest = normalized_hash(code)
    except Exception as err:  # noqa: BLE001 - unparseable code is itself a finding
        findings = [Finding(severity=Severity.HIGH, category="parse", line=0, message=str(err))]
        digest = "unparseable"
    return RiskSummary(worst=worst(findings), findings=findings), digest


def status_of(request: Any) -> RequestStatus:
    states = {}
    for change_status in request.history:
        states[change_status.change_id] = change_status.applied
    if not states:
        return RequestStatus.PENDING
    if all(states.values()) and len(states) == len(request.changes):
        return RequestStatus.APPROVED
    applied_once = any(s.applied for s in request.history)
    return RequestStatus.REVOKED if applied_once else RequestStatus.DENIED


def request_facts(worker: Any, request: Any, assets: dict[str, dict[str, Any]]) -> RequestFacts:
    """What an admin reviews and an auditor checks about one request and its code."""
    context = root_context(worker)
    code = request.get_user_code(context).unwrap()
    status = status_of(request)
    bound = bindings(code, assets)
    summary, digest = risk(code.raw_code, {a for a, b in bound.items() if b.kind == "asset"})
    declared = declared_output(code)
    summary = with_enforcement(summary, declared)
    try:
        executions = len(code.get_output_history(context=context).unwrap())
    except Exception:  # noqa: BLE001 - no history yet
        executions = 0
    decided = status in (RequestStatus.DENIED, RequestStatus.REVOKED)
    return RequestFacts(
        request_id=request.id.no_dash,
        requester=email_for(worker, request.requesting_user_verify_key),
        request_time=str(request.request_time),
        status=status,
        deny_reason=request.get_deny_reason(context).unwrap() if decided else None,
        executions=executions,
        code_id=code.id.no_dash,
        function=code.service_func_name,
        code=code.raw_code,
        code_hash=digest,
        syft_code_hash=code.code_hash,
        submitted_by=email_for(worker, code.user_verify_key),
        bindings=bound,
        policies=policies(code),
        risk=summary,
        declared_output=declared,
    )


def all_requests(worker: Any) -> list[RequestFacts]:
    """Every code request on the site, oldest first."""
    assets = asset_index(worker)
    requests = worker.services.request.stash.get_all(worker.verify_key).unwrap()
    out = []
    for request in requests:
        try:
            out.append(request_facts(worker, request, assets))
        except Exception:
            log.exception("cannot describe request %s", request.id)
    return sorted(out, key=lambda r: r.request_time)


def with_previous_version(facts: RequestFacts, every: list[RequestFacts]) -> RequestFacts:
    """Add ``previous_approved`` + ``diff``: the same researcher's latest approved request for
    a function with the same name stem (train_v1 -> train_v2), submitted before this one."""
    stem = function_stem(facts.function)
    earlier = [
        r for r in every
        if r.requester == facts.requester and r.status is RequestStatus.APPROVED
        and r.request_id != facts.request_id and r.request_time <= facts.request_time
        and function_stem(r.function) == stem
    ]  # fmt: skip
    if not earlier:
        return facts
    prev = earlier[-1]
    label = f"{prev.function} (approved, request {prev.request_id[:8]})"
    diff = code_diff(prev.code, facts.code, label, f"{facts.function} (this request)")
    summary = PreviousVersion(request_id=prev.request_id, function=prev.function,
                              code_hash=prev.code_hash, request_time=prev.request_time)  # fmt: skip
    return facts.model_copy(update={"previous_approved": summary, "diff": diff})
