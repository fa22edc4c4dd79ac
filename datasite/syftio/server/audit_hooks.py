"""Audit hooks: record every decision and execution inside the datasite process.

syft 0.9.5's own records are no audit trail (who approved is never stored, execution times
are wrong, researchers could forge output history), so we wrap the service methods on this
worker's service objects (instance attributes: syft resolves ``getattr(service, name)`` at
call time, so both API calls and internal calls pass through) and append to our hash-chained
log (``datasite.audit.log``):

- ``request.submit`` -> ``submitted`` (code, hashes, bindings, policies, risk report)
- ``request.apply`` -> ``approved``; ``request.undo`` -> ``denied`` or ``revoked`` (+ reason);
  an approval of a request with a HIGH risk finding is refused (``approval_refused``) until
  the admin acknowledged it (``risk_accepted``, :mod:`datasite.syftio.server.risk_gate`)
- ``action._user_code_execute`` -> ``executed`` (success or failure, inputs by id, duration,
  output keys/shapes/dtypes/bytes + sha256, the sandbox verdict: ok / error / killed with the
  limit / refused with the egress rule, wall, CPU and peak memory); ``user_code._call`` ->
  ``execution_refused`` / ``execution_cached`` when the code did not run
- ``user.create`` / ``user.update`` / ``user.delete`` -> ``user_created`` / ``user_updated`` /
  ``user_deleted`` (role changes; never passwords)

Installed by :mod:`datasite.syftio.server.patches` after the class patches (its docstring
says why the order matters). An audit write that fails is logged at ERROR and turned into an
error for the caller; an execution is refused up front when the log cannot be written.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasite.audit.log import AuditLog
from datasite.review.egress import summarize
from datasite.review.facts import RequestFacts, RequestStatus
from datasite.review.findings import normalized_hash
from datasite.syftio.server import requests as rr
from datasite.syftio.server import risk_gate, sealed

log = logging.getLogger(__name__)
AUDIT_FAILED = "The site could not write its audit log; the action was not recorded. " \
    "Contact the site admin."  # fmt: skip


class Recorder:
    def __init__(self, worker: Any, audit: AuditLog) -> None:
        self.worker = worker
        self.audit = audit
        self.local = threading.local()

    def write(self, event: str, context: Any, details: dict[str, Any]) -> None:
        from syft.types.errors import SyftException

        actor = rr.email_for(self.worker, getattr(context, "credentials", None))
        try:
            self.audit.append(event, actor, details)
        except Exception as err:  # noqa: BLE001 - any failure is reported, never swallowed
            log.error("AUDIT WRITE FAILED for %s by %s: %s", event, actor, err)
            raise SyftException(public_message=AUDIT_FAILED) from None

    # -- requests --------------------------------------------------------------------------
    def _request(self, uid: Any) -> Any:
        return self.worker.services.request.stash.get_by_uid(self.worker.verify_key, uid).unwrap()

    def _facts(self, request: Any) -> RequestFacts:
        return rr.request_facts(self.worker, request, rr.asset_index(self.worker))

    def submitted(self, context: Any, request: Any) -> None:
        facts = self._facts(request)
        keep = ("request_id", "function", "code_id", "code", "code_hash", "syft_code_hash",
                "bindings", "policies", "risk", "request_time")  # fmt: skip
        self.write("submitted", context, facts.audit_details(*keep))

    def decided(self, context: Any, uid: Any, before: RequestStatus, reason: str | None,
                accepted_seq: int | None = None) -> None:  # fmt: skip
        facts = self._facts(self._request(uid))
        event = "approved" if facts.status is RequestStatus.APPROVED else (
            "revoked" if before is RequestStatus.APPROVED else "denied")  # fmt: skip
        details = facts.audit_details("request_id", "function", "code_hash", "requester")
        if accepted_seq is not None:
            details["risk_accepted_seq"] = accepted_seq
        self.write(event, context, {**details, "reason": reason, "status_before": before.value})

    def risk_gate(self, context: Any, request: Any) -> int | None:
        """Refuse to approve a HIGH-risk request the admin has not acknowledged; else the
        acknowledgement's audit seq (None when the request has no HIGH finding)."""
        from syft.types.errors import SyftException

        facts = self._facts(request)
        if not facts.risk.has_high:
            return None
        record = risk_gate.acceptance(self.audit, facts)
        if record is None:
            details = facts.audit_details("request_id", "function", "code_hash")
            self.write("approval_refused", context, {**details, "reason": "high_risk_not_accepted"})
            raise SyftException(public_message=risk_gate.not_accepted_message(facts))
        return int(record["seq"])

    # -- executions ------------------------------------------------------------------------
    def executed(self, context: Any, code: Any, kwargs: dict[str, Any], seconds: float,
                 result: Any, error: BaseException | None) -> None:  # fmt: skip
        assets = rr.asset_index(self.worker)
        inputs = {k: {"id": getattr(v, "no_dash", str(v)),
                      "asset": assets.get(getattr(v, "no_dash", ""), {}).get("name")}
                  for k, v in kwargs.items()}  # fmt: skip
        details: dict[str, Any] = {
            "request_id": rr.request_id_for_code(self.worker, code.id),
            "function": code.service_func_name,
            "code_hash": normalized_hash(code.raw_code),
            "inputs": inputs,
            "duration_s": round(seconds, 3),
            "outcome": "failure" if error is not None else "success",
        }
        if error is not None:
            details["error"] = type(error).__name__
        else:
            details["output"] = summarize(_private_value(result))
        details["sandbox"] = sealed.take_verdict()  # verdict, limit or rule, resources
        self.write("executed", context, details)

    def not_run(self, context: Any, uid: Any, error: BaseException | None) -> None:
        code = self.worker.services.user_code.stash.get_by_uid(self.worker.verify_key, uid)
        code = code.unwrap()
        details = {
            "request_id": rr.request_id_for_code(self.worker, code.id),
            "function": code.service_func_name,
        }
        if error is None:
            self.write("execution_cached", context, details)
        else:
            reason = str(getattr(error, "public_message", "") or type(error).__name__)[:300]
            self.write("execution_refused", context, {**details, "reason": reason})

    # -- users -----------------------------------------------------------------------------
    def user_event(self, event: str, context: Any, view: Any, fields: list[str]) -> None:
        role = getattr(getattr(view, "role", None), "name", None)
        self.write(
            event,
            context,
            {
                "email": str(getattr(view, "email", view)),
                "role": role,
                "fields": sorted(f for f in fields if "password" not in f),
            },
        )


def _private_value(result: Any) -> Any:
    private = getattr(result, "private_obj", None) or result
    return getattr(private, "syft_action_data", private)


def _unwrap(result: Any) -> tuple[Any, BaseException | None]:
    """(value, error) of a syft Result or a plain value."""
    if hasattr(result, "is_err") and hasattr(result, "ok"):
        return (None, result.err()) if result.is_err() else (result.ok(), None)
    return result, None


def _wrap(
    service: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]
) -> None:
    original = getattr(service, name)
    setattr(service, name, functools.wraps(original)(make(original)))


def _arguments(
    original: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by name: positional ones named from ``inspect.signature``, never a
    guess at positions. Keywords stay as given: syft's ``autosplat`` methods receive an
    object's fields (``email=...``) in place of the declared parameter (``user_create``)."""
    names = list(inspect.signature(original).parameters)
    return {**dict(zip(names, args, strict=False)), **kwargs}


def _wrap_requests(rec: Recorder) -> None:
    service = rec.worker.services.request

    def submit(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            request = original(*args, **kwargs)
            rec.submitted(_arguments(original, args, kwargs)["context"], request)
            return request

        return run

    def decide(approving: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                call = _arguments(original, args, kwargs)
                request = rec._request(call["uid"])
                before = rr.status_of(request)
                seq = rec.risk_gate(call["context"], request) if approving else None
                result = original(*args, **kwargs)
                rec.decided(call["context"], call["uid"], before, call.get("reason"), seq)
                return result

            return run

        return make

    _wrap(service, "submit", submit)
    _wrap(service, "apply", decide(approving=True))
    _wrap(service, "undo", decide(approving=False))


def _wrap_executions(rec: Recorder) -> None:
    def execute(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(context: Any, code_item: Any, kwargs: dict[str, Any], *rest: Any, **kw: Any) -> Any:
            rec.local.ran = True
            rec.audit.check_writable()  # refuse to run what we could not record
            started = time.monotonic()
            result = original(context, code_item, kwargs, *rest, **kw)
            value, error = _unwrap(result)
            rec.executed(context, code_item, kwargs, time.monotonic() - started, value, error)
            return result

        return run

    def call(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            call = _arguments(original, args, kwargs)
            rec.local.ran = False
            result = original(*args, **kwargs)
            if not getattr(rec.local, "ran", False):
                rec.not_run(call["context"], call["uid"], _unwrap(result)[1])
            return result

        return run

    _wrap(rec.worker.services.action, "_user_code_execute", execute)
    _wrap(rec.worker.services.user_code, "_call", call)


def _changed_fields(call: dict[str, Any], key: str) -> list[str]:
    from syft.types.syft_object import Empty

    obj = call.get(key)
    if obj is None:
        return [k for k in call if k not in ("context", "uid", "communication_protocol")]
    return [k for k in type(obj).model_fields if getattr(obj, k, Empty) is not Empty]


def _wrap_users(rec: Recorder) -> None:
    def user(event: str, key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                call = _arguments(original, args, kwargs)
                uid = call.get("uid")
                before = rr.email_for_uid(rec.worker, uid) if event == "user_deleted" else None
                view = original(*args, **kwargs)
                rec.user_event(event, call["context"], before or view, _changed_fields(call, key))
                return view

            return run

        return make

    service = rec.worker.services.user
    _wrap(service, "create", user("user_created", "user_create"))
    _wrap(service, "update", user("user_updated", "user_update"))
    _wrap(service, "delete", user("user_deleted", "-"))


def install(worker: Any, audit_dir: Path) -> AuditLog:
    """Wrap this worker's services so that every decision and execution is audited."""
    audit = AuditLog(audit_dir)
    audit.check_writable()
    rec = Recorder(worker, audit)
    _wrap_requests(rec)
    _wrap_executions(rec)
    _wrap_users(rec)
    audit.append("site_started", "site", {"site": worker.name, "server_id": worker.id.no_dash,
                                          **sealed.describe()})  # fmt: skip
    log.info("audit hooks installed; log at %s", audit.path)
    return audit
