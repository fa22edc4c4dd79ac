"""The shipped site function as a syft code request, its status, and calls to it.

What the admin reviews is what runs: syft stores the text of the site function (the
researcher's task inside the wrapper of :func:`researcher.task.site_source`) as the request's
code and executes that text. Bound as ``sy.Constant`` (the caller cannot override them): the
experiment's settings with this site's privacy plan, its declared cost (``config``), and the
declared output schema (``output_schema``, :class:`fedcommon.task_schema.OutputSchema` as JSON)
that the site's egress policy enforces. The assets named by the experiment's ``inputs`` are
bound by name; the researcher passes only ``weights`` (dict of float32 arrays), ``task`` (str)
and ``round_index`` (int) per call. The output policy caps executions at
``experiment.execution_budget``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fedcommon.arrays import brief_arrays
from fedcommon.privacy import PrivacyPlan
from fedcommon.task_schema import SCHEMA_ARGUMENT, OutputSchema
from fedcommon.transport import UnreachableError, quiet, site_health, syft_message
from researcher.config import ExperimentConfig
from researcher.errors import CallFailure, SiteCallError, SubmissionError
from researcher.privacy import config_with_plan
from researcher.task import SiteTask, load_task, site_function

log = logging.getLogger(__name__)

# Public syft messages -> the failure code and the short reason a researcher sees.
_REASONS = (
    ("output policy is not valid", CallFailure.USED_UP, "approved executions used up"),
    ("waiting for approval", CallFailure.PENDING, "pending approval by the site admin"),
    ("exception encountered while running", CallFailure.FAILED_AT_SITE,
     "the function failed at the site (see its log)"),
    ("input policy", CallFailure.INPUTS_MISMATCH, "inputs do not match what was approved"),
)  # fmt: skip


def function_name(experiment: ExperimentConfig, task: SiteTask | None = None) -> str:
    """The request's name at every site (``task`` defaults to the experiment's own)."""
    return experiment.function_name((task or load_task(experiment.task)).source)


def build_function(
    client: Any,
    assets: Mapping[str, Any],
    experiment: ExperimentConfig,
    task: SiteTask,
    schema: OutputSchema,
    plan: PrivacyPlan | None = None,
) -> Any:
    """The syft function for ``experiment`` bound to this site's assets."""
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    name = function_name(experiment, task)
    named = site_function(task, name, list(assets))
    policy = sy.MixedInputPolicy(
        client=client,
        **assets,
        weights=dict,
        task=str,
        round_index=int,
        config=sy.Constant(val=config_with_plan(experiment, plan)),
        **{SCHEMA_ARGUMENT: sy.Constant(val=schema.model_dump(mode="json"))},
    )
    decorate = sy.syft_function(
        input_policy=policy,
        output_policy=OutputPolicyExecuteCount(limit=experiment.execution_budget),
        name=name,
    )
    with quiet():
        return decorate(named)


def find_code(client: Any, name: str) -> Any | None:
    """The submitted code named ``name`` (first version), or None."""
    for code in client.code:
        if str(code.service_func_name) == name:
            return code
    return None


def submit(
    client: Any,
    site: str,
    assets: Mapping[str, Any],
    experiment: ExperimentConfig,
    task: SiteTask,
    schema: OutputSchema,
    plan: PrivacyPlan | None = None,
) -> str:
    """Create the code request at ``site``; returns 'submitted' or 'already submitted'."""
    from syft.types.errors import SyftException

    name = function_name(experiment, task)
    if find_code(client, name) is not None:
        return "already submitted"
    try:
        function = build_function(client, assets, experiment, task, schema, plan)
        with quiet():
            client.code.request_code_execution(function)
    except SyftException as err:
        raise SubmissionError(
            f"Site {site}: the code request failed: {syft_message(err)}"
        ) from None
    log.info("submitted %s to %s", name, site)
    return "submitted"


def status(
    client: Any, experiment: ExperimentConfig, task: SiteTask | None = None
) -> dict[str, Any]:
    """State of this experiment's request: status, reason, executions used / budget."""
    name = function_name(experiment, task)
    code = find_code(client, name)
    if code is None:
        return {"function": name, "status": "not submitted", "reason": "", "used": 0,
                "budget": experiment.execution_budget}  # fmt: skip
    return code_state(code)


def all_status(client: Any) -> list[dict[str, Any]]:
    """The state of every function this researcher submitted to the site."""
    return [code_state(code) for code in client.code]


def code_state(code: Any) -> dict[str, Any]:
    decisions = list(code.status.status_dict.values())
    decision = decisions[0] if decisions else None
    state = str(decision.status.name).lower() if decision else "unknown"
    return {
        "function": str(code.service_func_name),
        "status": state,
        "reason": str(decision.reason_or_none or "") if decision else "",
        "used": _executions_used(code) if state == "approved" else 0,
        "budget": int((code.output_policy_init_kwargs or {}).get("limit", 0)),
    }


def _executions_used(code: Any) -> int:
    from syft.types.errors import SyftException

    try:
        with quiet():
            return int(code.output_policy.count())
    except (SyftException, AttributeError):
        return -1


def classify(err: BaseException, budget: int) -> tuple[CallFailure, str]:
    """The failure code and a short, safe reason for a failed call (never a remote trace).

    syft 0.9.5 reports failures only as text; this is the one place that reads it."""
    message = syft_message(err)
    lowered = message.lower()
    if (
        "privacy" in lowered
        and "denied" not in lowered
        and ("share" in lowered or "budget" in lowered)
    ):
        return CallFailure.PRIVACY_SPENT, (
            f"refused by the site's privacy budget (used up): {message[:300]}"
        )
    if "denied" in lowered and "output policy" not in lowered:
        code = CallFailure.REVOKED if "revoked" in lowered else CallFailure.DENIED
        if "reason:" in lowered:
            reason = message.split("Reason:", 1)[1].strip().rstrip(".")[:200]
            return code, f"denied by the site admin: {reason}"
        return code, "denied by the site admin"
    for marker, code, reason in _REASONS:
        if marker in lowered:
            used = f" ({budget} of {budget})" if code is CallFailure.USED_UP else ""
            return code, reason + used
    text = f"call failed: {message.splitlines()[0][:160]}" if message else "call failed"
    return CallFailure.OTHER, text


def takes_inline_arguments(client: Any) -> bool:
    """Whether the site stores a call's arguments itself (its ``args_inline`` patch, listed
    at ``/site/health``): then a call is one request, not one per argument plus the call."""
    url = getattr(getattr(client, "connection", None), "url", None)
    if url is None:  # an in-process client
        return False
    try:
        return "args_inline" in site_health(url.base_url).get("call_path", [])
    except (UnreachableError, AttributeError):
        return False


_PER_ITEM_BYTES = 256  # more than syft's serialization adds per value, key or container
_PER_ARRAY_BYTES = 1024  # and per array (measured: 560-670 bytes)


def _size_bound(value: Any) -> int | None:
    """A cheap upper bound of ``value``'s serialized size for the plain values a call sends
    (dicts and lists of arrays, numbers, text); None for anything else."""
    import numpy as np

    if isinstance(value, np.ndarray) and value.dtype != object:
        return value.nbytes + _PER_ARRAY_BYTES
    if value is None or isinstance(value, (bool, int, float, np.generic)):
        return _PER_ITEM_BYTES
    if isinstance(value, (str, bytes)):
        return len(value) * 4 + _PER_ITEM_BYTES
    items = list(value.items()) if isinstance(value, Mapping) else value
    if not isinstance(items, (list, tuple)):
        return None
    total = _PER_ITEM_BYTES
    for item in items:
        size = _size_bound(item)
        if size is None:
            return None
        total += size
    return total


def goes_to_blob_storage(value: Any, metadata: Any) -> bool:
    """syft's own test (``can_upload_to_blob_storage``) serializes the whole value just to
    measure it; a value clearly below the site's threshold (half of it, by a cheap upper
    bound) skips that."""
    from syft.service.blob_storage.util import can_upload_to_blob_storage

    bound = _size_bound(value)
    if bound is not None and bound * 2 < metadata.min_size_blob_storage_mb * 1024 * 1024:
        return False
    return bool(can_upload_to_blob_storage(value, metadata).unwrap())


def uploaded(client: Any, values: Mapping[str, Any], inline: bool = False) -> dict[str, Any]:
    """The call's own arguments as objects for the call: stored at the site first, or (with
    ``inline``, for a site that :func:`takes_inline_arguments`) carried in the call itself.

    What syft does inside the call, less one request per argument: before storing each
    argument it asks the server for its metadata (``metadata.get_metadata``) only to compare
    the argument's size with the blob-store threshold; the client has that metadata since
    login. Large arguments still go to the blob store first, and are stored before the call.
    """
    from syft.service.action.action_object import ActionObject

    api, pointers = client.api, {}
    for key, value in values.items():
        stored = ActionObject.from_obj(
            syft_action_data=value,
            syft_client_verify_key=api.signing_key.verify_key,
            syft_server_location=api.server_uid,
        )
        stored.syft_server_uid = api.server_uid
        if goes_to_blob_storage(value, client.metadata):
            stored._save_to_blob_storage().unwrap()
        else:
            stored.syft_action_saved_to_blob_store = False
            if inline:  # the call itself carries it
                pointers[key] = stored
                continue
        pointers[key] = api.services.action.set(stored)
    return pointers


def result_of(pointer: Any) -> Any:
    """The value a call returned: carried in its reply where the site sends it along (its
    ``result_inline`` patch), else fetched with ``.get()`` (an error, a reply without the
    data, a site without the patch)."""
    from syft.service.action.action_data_empty import ActionDataEmpty
    from syft.service.action.action_object import ActionObject
    from syft.types.result import Err

    if not isinstance(pointer, ActionObject):
        return pointer
    data = pointer.syft_action_data_cache
    error = issubclass(pointer.syft_action_data_type or type(None), Err)
    return pointer.get() if error or isinstance(data, ActionDataEmpty) else data


def look_up(client: Any, experiment: ExperimentConfig, site_task: SiteTask | None) -> bool:
    """Whether ``client``'s API has the experiment's function, looked up as :func:`call` does.

    syft refetches a client's whole API (~1 s) the first time a name it lacks is looked up:
    a client that logged in before the function was approved pays that inside the first
    round's call. Looking it up before the rounds start moves that cost out of the rounds.
    """
    try:
        with quiet():
            getattr(client.code, function_name(experiment, site_task))
    except Exception:  # noqa: BLE001 - not submitted, or the site failed: the round's call
        return False  # meets it again and reports it for that site (skipped), not the run
    return True


def call(
    client: Any,
    site: str,
    assets: Mapping[str, Any],
    experiment: ExperimentConfig,
    site_task: SiteTask | None,
    inline: bool = False,
    **kwargs: Any,
) -> Any:
    """Run the approved function once at ``site`` (``inline``: see :func:`uploaded`);
    SiteCallError with a short reason."""
    from syft.types.errors import SyftException

    name = function_name(experiment, site_task)
    try:
        with quiet(), brief_arrays():  # syft renders each argument's and reply's text
            function = getattr(client.code, name)
            return result_of(function(**assets, **uploaded(client, kwargs, inline)))
    except (SyftException, AttributeError) as err:
        if isinstance(err, AttributeError):
            reason = "not submitted here (run researcher submit)"
            raise SiteCallError(site, reason, CallFailure.NOT_SUBMITTED) from None
        log.debug("call of %s at %s failed: %s", name, site, syft_message(err))
        code, reason = classify(err, experiment.execution_budget)
        raise SiteCallError(site, reason, code) from None
