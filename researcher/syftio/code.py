"""The shipped site function as a syft code request, its status, and calls to it.

What the admin reviews is what runs: syft stores the text of ``researcher.site_code.
federated_step`` (or of the experiment's task, :mod:`researcher.tasks`) as the request's code
and executes that text; the experiment's settings (with this site's privacy plan, its declared
cost) are bound as a ``sy.Constant`` the caller cannot override, and the output policy caps
executions at ``experiment.execution_budget``.
"""

from __future__ import annotations

import inspect
import logging
import types
from collections.abc import Mapping
from typing import Any

from fedcommon.privacy import PrivacyPlan
from researcher.config import ExperimentConfig
from researcher.errors import SiteCallError, SubmissionError
from researcher.privacy import config_with_plan
from researcher.syftio.client import quiet, syft_message
from researcher.tasks import experiment_function

log = logging.getLogger(__name__)

# Public syft messages -> the short reason a researcher sees.
_REASONS = (
    ("output policy is not valid", "approved executions used up"),
    ("waiting for approval", "pending approval by the site admin"),
    ("exception encountered while running", "the function failed at the site (see its log)"),
    ("input policy", "inputs do not match what was approved"),
)


def function_name(experiment: ExperimentConfig) -> str:
    return experiment.function_name(inspect.getsource(experiment_function(experiment)))


def build_function(
    client: Any, assets: Mapping[str, Any], experiment: ExperimentConfig,
    plan: PrivacyPlan | None = None,
) -> Any:  # fmt: skip
    """The syft function for ``experiment`` bound to this site's assets."""
    import syft as sy
    from syft.service.policy.policy import OutputPolicyExecuteCount

    name = function_name(experiment)
    shipped = experiment_function(experiment)
    # Same code object (so the same source) under the experiment's unique name.
    named = types.FunctionType(shipped.__code__, shipped.__globals__, name)
    policy = sy.MixedInputPolicy(
        client=client,
        **assets,
        weights=dict,
        task=str,
        round_index=int,
        config=sy.Constant(val=config_with_plan(experiment, plan)),
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
    client: Any, site: str, assets: Mapping[str, Any], experiment: ExperimentConfig,
    plan: PrivacyPlan | None = None,
) -> str:  # fmt: skip
    """Create the code request at ``site``; returns 'submitted' or 'already submitted'."""
    from syft.types.errors import SyftException

    name = function_name(experiment)
    if find_code(client, name) is not None:
        return "already submitted"
    try:
        with quiet():
            client.code.request_code_execution(build_function(client, assets, experiment, plan))
    except SyftException as err:
        raise SubmissionError(
            f"Site {site}: the code request failed: {syft_message(err)}"
        ) from None
    log.info("submitted %s to %s", name, site)
    return "submitted"


def status(client: Any, experiment: ExperimentConfig) -> dict[str, Any]:
    """State of this experiment's request: status, reason, executions used / budget."""
    name = function_name(experiment)
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


def short_reason(err: BaseException, budget: int) -> str:
    """A short, safe reason for a failed call (never a remote traceback)."""
    message = syft_message(err)
    lowered = message.lower()
    if "denied" in lowered and "reason:" in lowered:
        return (
            f"denied by the site admin: {message.split('Reason:', 1)[1].strip().rstrip('.')[:200]}"
        )
    if "privacy" in lowered and ("share" in lowered or "budget" in lowered):
        return f"refused by the site's privacy budget (used up): {message[:300]}"
    if "denied" in lowered and "output policy" not in lowered:
        return "denied by the site admin"
    for marker, reason in _REASONS:
        if marker in lowered:
            return f"{reason} ({budget} of {budget})" if "used up" in reason else reason
    return f"call failed: {message.splitlines()[0][:160]}" if message else "call failed"


def call(
    client: Any, site: str, assets: Mapping[str, Any], experiment: ExperimentConfig, **kwargs: Any
) -> Any:
    """Run the approved function once at ``site``; SiteCallError with a short reason."""
    from syft.types.errors import SyftException

    name = function_name(experiment)
    try:
        with quiet():
            pointer = getattr(client.code, name)(**assets, **kwargs)
            return pointer.get() if hasattr(pointer, "get") else pointer
    except (SyftException, AttributeError) as err:
        if isinstance(err, AttributeError):
            raise SiteCallError(site, "not submitted here (run researcher submit)") from None
        log.debug("call of %s at %s failed: %s", name, site, syft_message(err))
        raise SiteCallError(site, short_reason(err, experiment.execution_budget)) from None
