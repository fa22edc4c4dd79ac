"""Privacy-budget enforcement inside the datasite process (the ledger is datasite.privacy).

- Approving a request reserves its declared epsilon on the dataset it binds, after the site
  recomputed the declared plan with Opacus' accountant for its own training-set size; a
  request that does not fit the remaining budget, or that is not DP on a budgeted dataset
  (unless the admin allowed non-DP), is refused with the remaining budget in the message.
- Denying or revoking releases what the request reserved but did not spend.
- Every training execution is charged one round of its plan before it runs; once the plan's
  rounds are spent, further training executions are refused. Evaluation calls are not
  charged (their metrics leave without DP noise: documented in the README).
Each reservation, spend and refusal is also an audit record (``privacy_*`` events).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from datasite.audit.log import AuditLog
from datasite.errors import DatasiteError
from datasite.privacy import Ledger
from datasite.review.facts import BindingKind
from datasite.syftio.server import requests as rr
from fedcommon.privacy import CONFIG_KEY, PrivacyError, PrivacyPlan, check_plan
from fedcommon.task_schema import NON_TRAINING_STEPS

log = logging.getLogger(__name__)
IMAGES = "images"


class Bound:
    """What a request's code binds and declares, read from its input policy."""

    def __init__(self, dataset: str | None, images_id: str | None, plan: PrivacyPlan | None):
        self.dataset, self.images_id, self.plan = dataset, images_id, plan


def constant_config(code: Any) -> dict[str, Any]:
    """The value of the ``config`` constant (the caller cannot override it)."""
    for per_server in (code.input_policy_init_kwargs or {}).values():
        rule = per_server.get("config")
        if type(rule).__name__ == "Constant" and isinstance(rule.val, dict):
            return dict(rule.val)
    return {}


def bound(worker: Any, code: Any) -> Bound:
    dataset = images_id = None
    for arg, binding in rr.bindings(code, rr.asset_index(worker)).items():
        if binding.kind is BindingKind.ASSET and binding.asset and "/" in binding.asset:
            dataset = binding.asset.split("/", 1)[0]
            images_id = binding.id if arg == IMAGES else images_id
    raw = constant_config(code).get(CONFIG_KEY)
    try:
        plan = PrivacyPlan.model_validate(raw) if raw else None
    except ValueError as err:
        raise PrivacyError(f"The request's privacy plan is malformed ({err}).") from None
    return Bound(dataset, images_id, plan)


_sizes: dict[str, int] = {}  # asset action id -> rows; assets are immutable once uploaded


def _size_of(worker: Any, action_id: str) -> int:
    from syft.types.uid import UID

    if action_id not in _sizes:
        obj = worker.services.action.stash.get(uid=UID(action_id), credentials=worker.verify_key)
        found = obj.unwrap()
        private = found.private_obj if hasattr(found, "private_obj") else found
        _sizes[action_id] = len(getattr(private, "syft_action_data", private))
    return _sizes[action_id]


def training_size(worker: Any, dataset: str) -> int | None:
    """How many training images the private ``dataset/images`` asset holds (None: none)."""
    for action_id, found in rr.asset_index(worker).items():
        if found["name"] == f"{dataset}/{IMAGES}":
            return _size_of(worker, action_id)
    return None


class Guard:
    def __init__(self, worker: Any, ledger_file: Path, audit: AuditLog) -> None:
        self.worker, self.audit = worker, audit
        self.ledger = Ledger(ledger_file)

    def _refuse(
        self, actor: str, details: dict[str, Any], err: DatasiteError | PrivacyError
    ) -> Any:
        from syft.types.errors import SyftException

        self.audit.append("privacy_refused", actor, {**details, "reason": err.message})
        log.info("privacy: refused %s: %s", details, err.message)
        return SyftException(public_message=err.message)

    def approving(self, context: Any, uid: Any) -> None:
        request = self.worker.services.request.stash.get_by_uid(self.worker.verify_key, uid)
        request = request.unwrap()
        code = request.get_user_code(rr.root_context(self.worker)).unwrap()
        actor = rr.email_for(self.worker, getattr(context, "credentials", None))
        details = {"request_id": request.id.no_dash, "step": "approve"}
        try:
            found = bound(self.worker, code)
            if found.dataset is None or self.ledger.get(found.dataset) is None:
                return
            if found.plan is not None:
                check_plan(found.plan, self._size(found))
            requester = rr.email_for(self.worker, request.requesting_user_verify_key)
            after = self.ledger.approve(request.id.no_dash, found.dataset, found.plan,
                                        requester, code.service_func_name)  # fmt: skip
        except (DatasiteError, PrivacyError) as err:
            raise self._refuse(actor, details, err) from None
        if found.plan is not None and after is not None:
            self.audit.append("privacy_reserved", actor, {**details, "dataset": found.dataset,
                              "epsilon": found.plan.epsilon, "delta": found.plan.delta,
                              "remaining": after.remaining})  # fmt: skip

    def _size(self, found: Bound) -> int:
        n = _size_of(self.worker, found.images_id) if found.images_id else None
        if not n:
            raise PrivacyError("The request binds no training images: its cost cannot be checked.")
        return n

    def released(self, uid: Any) -> None:
        self.ledger.release(uid.no_dash)

    def executing(self, context: Any, code: Any, kwargs: dict[str, Any]) -> None:
        found = bound(self.worker, code)
        if found.dataset is None or _task_value(self.worker, kwargs) in NON_TRAINING_STEPS:
            return  # init and evaluate never train; anything else (a fused call) is charged
        request_id = _request_id(self.worker, code)
        actor = rr.email_for(self.worker, getattr(context, "credentials", None))
        details = {"request_id": request_id, "function": code.service_func_name,
                   "step": "execute", "dataset": found.dataset}  # fmt: skip
        try:
            spend = self.ledger.charge(request_id, found.dataset, found.plan is not None)
        except DatasiteError as err:
            raise self._refuse(actor, details, err) from None
        if spend is not None:
            self.audit.append("privacy_spent", actor, {**details, **spend.model_dump()})


def _request_id(worker: Any, code: Any) -> str:
    return rr.request_id_for_code(worker, code.id) or code.id.no_dash


def _task_value(worker: Any, kwargs: dict[str, Any]) -> str | None:
    """The ``task`` argument of this call ("train", "evaluate", ...); None when unreadable
    (then the call is charged as training: never under-count)."""
    uid = kwargs.get("task")
    try:
        obj = worker.services.action.stash.get(uid=uid, credentials=worker.verify_key).unwrap()
        value = getattr(obj, "syft_action_data", obj)
        return value if isinstance(value, str) else None
    except Exception:  # noqa: BLE001 - unreadable: charge it
        log.warning("privacy: cannot read the task argument; charging the call as training")
        return None


Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]


def _wrap(service: Any, name: str, make: Wrapper) -> None:
    original = getattr(service, name)
    setattr(service, name, functools.wraps(original)(make(original)))


def install(worker: Any, ledger_file: Path, audit: AuditLog) -> Guard:
    """Wrap approve / deny / execute on this worker's service instances. Installed by
    :mod:`datasite.syftio.server.patches` after the audit hooks, so these wrappers run first:
    a refused approval never reaches syft (nor the audit hook's "approved" record), and a
    training execution is charged before the audited execution runs."""
    guard = Guard(worker, ledger_file, audit)

    def apply(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(context: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
            guard.approving(context, uid)
            try:
                return original(context, uid, *args, **kwargs)
            except BaseException:  # refused further in (risk not acknowledged, syft): release
                guard.released(uid)
                raise

        return run

    def undo(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(context: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(context, uid, *args, **kwargs)
            guard.released(uid)
            return result

        return run

    def execute(original: Callable[..., Any]) -> Callable[..., Any]:
        def run(context: Any, code_item: Any, kwargs: dict[str, Any], *rest: Any, **kw: Any) -> Any:
            guard.executing(context, code_item, kwargs)
            return original(context, code_item, kwargs, *rest, **kw)

        return run

    _wrap(worker.services.request, "apply", apply)
    _wrap(worker.services.request, "undo", undo)
    _wrap(worker.services.action, "_user_code_execute", execute)
    log.info("privacy budget enforcement installed; ledger at %s", guard.ledger.path)
    return guard
