"""Admin side, through syft's client: decide on code requests and gather dry-run inputs.

Approve / deny / revoke need the admin role (``admin_login`` refuses anyone else, and the
site refuses the same calls from a GUEST). Every syft error becomes a short DatasiteError.
"""

from __future__ import annotations

import ast
import contextlib
import logging
from typing import Any

from datasite.config import AdminCredentials
from datasite.errors import DatasiteError, NotFoundError
from datasite.review import dryrun
from datasite.review.egress import asset_shaped
from datasite.review.facts import BindingKind, DryRunResult, RequestFacts
from datasite.syftio.client import admin_login, login
from fedcommon.transport import quiet, syft_message

log = logging.getLogger(__name__)


def find_request(client: Any, request_id: str) -> Any:
    wanted = request_id.replace("-", "").lower()
    found = [r for r in client.requests if r.id.no_dash.startswith(wanted)]
    if len(wanted) < 6 or len(found) != 1:
        what = "matches several requests" if found else "matches no request"
        raise NotFoundError(
            f"Request id {request_id} {what}. List them with `datasite requests list --url ...`."
        )
    return found[0]


def _status(request: Any) -> str:
    return str(request.status.name).lower()


def decide(url: str, creds: AdminCredentials, request_id: str, action: str, reason: str) -> str:
    """``approve`` / ``deny`` / ``revoke`` a request; returns its function name."""
    from syft.types.errors import SyftException

    request = find_request(admin_login(url, creds), request_id)
    status = _status(request)
    if action == "revoke" and status != "approved":
        raise DatasiteError(f"Request {request_id} is {status}, not approved: nothing to revoke.")
    if action == "approve" and status == "approved":
        raise DatasiteError(f"Request {request_id} is already approved.")
    try:
        with quiet():  # syft prints "Approving request ..."
            if action == "approve":
                request.approve(disable_warnings=True)
            else:
                request.deny(reason=reason)
    except SyftException as err:
        raise DatasiteError(
            f"Could not {action} request {request_id}: {syft_message(err)}"
        ) from None
    return str(request.code.service_func_name)


def _recorded_value(client: Any, code: Any, arg: str) -> Any:
    """The value the researcher last passed for ``arg``, else KeyError. The site keeps only
    the latest call's arguments (the prune_results patch): older ones are skipped."""
    from syft.types.errors import SyftException

    history = list(code.output_history or [])
    for output in reversed(history):
        uid = (output.input_ids or {}).get(arg)
        if uid is None:
            continue
        try:
            obj = client.api.services.action.get(uid)
        except SyftException:  # pruned
            continue
        return getattr(obj, "syft_action_data", obj)
    raise KeyError(arg)


def _defaults(raw_code: str) -> dict[str, Any]:
    tree = ast.parse(raw_code)
    fn = next((n for n in tree.body if isinstance(n, ast.FunctionDef)), None)
    if fn is None:
        return {}
    args = fn.args.args[len(fn.args.args) - len(fn.args.defaults) :]
    out = {}
    for arg, default in zip(args, fn.args.defaults, strict=True):
        with contextlib.suppress(ValueError):
            out[arg.arg] = ast.literal_eval(default)
    return out


def _asset_mock(client: Any, asset_name: str) -> Any:
    dataset, _, asset = asset_name.partition("/")
    return client.datasets[dataset].assets[asset].mock


def dry_run_inputs(
    client: Any, facts: RequestFacts, samples: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Mock data for asset arguments and sample values for the others, plus notes on where
    each came from (or why it is missing). ``samples`` (from the admin) wins."""
    request = find_request(client, facts.request_id)
    codes = [request.code]
    if facts.previous_approved is not None:
        codes.append(find_request(client, facts.previous_approved.request_id).code)
    constants = _constants(request.code)
    defaults = _defaults(facts.code)
    kwargs: dict[str, Any] = {}
    notes: list[str] = []
    for arg, binding in facts.bindings.items():
        if binding.kind is BindingKind.ASSET and binding.asset:
            kwargs[arg] = _asset_mock(client, binding.asset)
            notes.append(f"{arg}: mock of asset {binding.asset}")
        elif arg in samples or arg in constants:
            from_samples = arg in samples
            kwargs[arg] = samples[arg] if from_samples else constants[arg]
            notes.append(f"{arg}: " + ("from --sample-args" if from_samples else "a constant"))
        else:
            _researcher_value(client, codes, arg, defaults, kwargs, notes)
    return kwargs, notes


def _constants(code: Any) -> dict[str, Any]:
    out = {}
    for per_server in (code.input_policy_init_kwargs or {}).values():
        for arg, rule in per_server.items():
            if type(rule).__name__ == "Constant":
                out[str(arg)] = rule.val
    return out


def _researcher_value(
    client: Any, codes: list[Any], arg: str, defaults: dict[str, Any],
    kwargs: dict[str, Any], notes: list[str],
) -> None:  # fmt: skip
    for number, code in enumerate(codes):
        try:
            kwargs[arg] = _recorded_value(client, code, arg)
        except KeyError:
            continue
        except Exception as err:  # noqa: BLE001 - unreadable: say so, try the next source
            notes.append(f"{arg}: recorded value unreadable ({syft_message(err)[:80]})")
            continue
        where = "this request" if number == 0 else "the earlier approved version"
        notes.append(f"{arg}: the value the researcher last passed to {where}")
        return
    if arg in defaults:
        kwargs[arg] = defaults[arg]
        notes.append(f"{arg}: the function's default")
        return
    notes.append(
        f"{arg}: MISSING - researcher-owned and never passed yet; give a sample with "
        f'--sample-args FILE.json (e.g. {{"{arg}": ...}})'
    )


def dry_run(
    url: str, creds: AdminCredentials, facts: RequestFacts, samples: dict[str, Any],
    timeout_s: float,
) -> DryRunResult:  # fmt: skip
    """Run the request on mock data in the sealed worker; describe what would leave the site."""
    client = login(url, creds.email, creds.password)
    kwargs, notes = dry_run_inputs(client, facts, samples)
    missing = [n for n in notes if "MISSING" in n]
    if missing:
        error = "not run: researcher-owned arguments have no sample value"
        return DryRunResult(ok=False, skipped=True, notes=notes, error=error)
    assets = [name for name, b in facts.bindings.items() if b.kind is BindingKind.ASSET]
    result = dryrun.run(facts.code, facts.function, kwargs, timeout_s, assets)
    warnings = asset_shaped(result["output"], facts.asset_shapes()) if result.get("ok") else []
    return DryRunResult.model_validate(
        {**result, "skipped": False, "notes": notes, "asset_shaped": warnings}
    )
