"""Approved code runs in the sealed worker, never in the datasite process (CVE-2026-31220).

Registered as the class patch ``sealed_execution`` (:mod:`datasite.syftio.server.patches`).
syft 0.9.5 runs approved code with ``exec`` inside the server (``execute_byte_code``). We
replace that step: the call's inputs go to the bubblewrap sandbox (``datasite.sandbox``) as
plain arrays and JSON, the code is syft's stored ``parsed_code`` (the reviewed source, its
decorator removed, called by its ``unique_func_name`` as syft does), and the output comes back
the same way. Before release the site checks, in order: the researcher-owned arguments (before
the worker starts), then the output against the request's declared schema (the constant
``output_schema``; the no-schema rule otherwise), the plausibility of its counts and the
verbatim-copy check against the bound private assets (``datasite.sandbox.release``).

The verdict and resource use of each execution are left for the audit hook
(``take_verdict``). Where no sandbox can start, executions are refused with a clear message
unless the admin launched with ``--unsafe-in-process`` (then syft's in-process path runs, the
same output checks still apply, and the audit log says so on start and on every execution).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from datasite.sandbox import bwrap
from datasite.sandbox.arguments import check_arguments
from datasite.sandbox.errors import SandboxUnavailable
from datasite.sandbox.release import SchemaError, check_release, parse_declared, policy_schema
from datasite.sandbox.runner import Sandbox
from datasite.sandbox.verdict import Execution, Limits, Refusal, Rule, Verdict
from fedcommon.task_schema import SCHEMA_ARGUMENT
from fedcommon.task_schema import OutputSchema as Declared

log = logging.getLogger(__name__)
UNAVAILABLE = (
    "This site cannot run code: its sealed worker is unavailable. Site admin: see the site "
    "log (install bubblewrap), or relaunch with --unsafe-in-process to accept the risk."
)


class Mode(StrEnum):
    SEALED = "sealed"
    UNSAFE_IN_PROCESS = "unsafe_in_process"
    UNAVAILABLE = "unavailable"


@dataclasses.dataclass
class _State:
    mode: Mode = Mode.UNAVAILABLE
    sandbox: Sandbox | None = None
    reason: str = "not configured"
    installed: bool = False  # the sealed_execution patch replaced syft's exec path


_state = _State()
_verdicts = threading.local()


def configure(
    data_dir: Path, log_dir: Path, limits: Limits, unsafe_in_process: bool = False
) -> Mode:
    """Decide how this site runs code (the warm sandbox starts with :func:`warm_up`)."""
    reason = bwrap.probe()
    if reason is None:
        sandbox = Sandbox(limits, hidden=[data_dir], log_file=log_dir / "sandbox.log")
        _state.mode, _state.sandbox, _state.reason = Mode.SEALED, sandbox, ""
    elif unsafe_in_process:
        _state.mode, _state.reason = Mode.UNSAFE_IN_PROCESS, reason
        log.warning("RUNNING RESEARCHER CODE INSIDE THE SITE PROCESS (--unsafe-in-process): %s",
                    reason)  # fmt: skip
    else:
        _state.mode, _state.reason = Mode.UNAVAILABLE, reason
        log.error("no sealed worker: this site will refuse to run researcher code. %s", reason)
    return _state.mode


def warm_up() -> None:
    """Start the zygote in the background once the site answers (its torch import would
    otherwise compete with the server's start); a call before that starts it itself."""
    if _state.sandbox is not None:
        threading.Thread(target=_warm_up, args=(_state.sandbox,), daemon=True).start()


def _warm_up(sandbox: Sandbox) -> None:
    try:
        sandbox.start()
    except SandboxUnavailable as err:
        log.error("%s", err.message)


def mode() -> Mode:
    return _state.mode


def describe() -> dict[str, str]:
    """How this site runs researcher code, for the ``site_started`` audit record."""
    if not _state.installed:
        warning = "the sealed_execution patch was skipped: code runs in the server"
        return {"execution": "in_process_unpatched", "warning": warning}
    described = {"execution": str(_state.mode)}
    if _state.mode is not Mode.SEALED:
        described["reason"] = _state.reason[:300]
    return described


def shutdown() -> None:
    if _state.sandbox is not None:
        _state.sandbox.close()


def take_verdict() -> dict[str, Any] | None:
    """The sandbox verdict of the last execution in this thread (for the audit record)."""
    verdict: dict[str, Any] | None = getattr(_verdicts, "last", None)
    _verdicts.last = None
    return verdict


def declared_schema(code_item: Any) -> Declared | None:
    """The output schema the request declared: the value of its ``output_schema`` constant,
    fixed at approval (None: it declares none).

    Raises:
        SchemaError: the constant is not a valid schema.
    """
    from datasite.syftio.server.requests import constant

    found, value = constant(code_item, SCHEMA_ARGUMENT)
    return parse_declared(value) if found else None


def _split(code_item: Any, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(private asset arguments, researcher-owned arguments) by the request's bindings."""
    from datasite.syftio.server.requests import bindings

    kinds = {name: str(b.kind) for name, b in bindings(code_item, {}).items()}
    private = {k: v for k, v in kwargs.items() if kinds.get(k) == "asset"}
    return private, {k: v for k, v in kwargs.items() if k not in private}


def _output(code_item: Any, execution: Execution) -> Any:
    from syft.service.code.user_code import UserCodeExecutionOutput
    from syft.service.response import SyftError

    _verdicts.last = execution.audit()
    if execution.verdict is Verdict.OK:
        return UserCodeExecutionOutput(
            user_code_id=code_item.id, stdout="", stderr="", result=execution.value
        )
    reason = execution.short_reason()
    log.warning("execution of %s: %s (%s)", code_item.service_func_name, reason, execution.detail)
    return UserCodeExecutionOutput(user_code_id=code_item.id, stdout="", stderr="",
                                   result=SyftError(message=reason), errored=True,
                                   safe_error_message=reason)  # fmt: skip


def _refused(refusal: Refusal, base: Execution | None = None) -> Execution:
    base = base or Execution(verdict=Verdict.REFUSED)
    return dataclasses.replace(base, verdict=Verdict.REFUSED, value=None, rule=str(refusal.rule),
                               detail=refusal.detail)  # fmt: skip


def _run(original: Callable[..., Any], code_item: Any, kwargs: dict[str, Any],
         context: Any) -> Execution:  # fmt: skip
    private, owned = _split(code_item, kwargs)
    try:
        declared = declared_schema(code_item)
    except SchemaError as err:
        return _refused(Refusal(Rule.SCHEMA_MISMATCH, str(err)))
    schema = policy_schema(declared) if declared is not None else None
    owned.pop(SCHEMA_ARGUMENT, None)  # validated above, fixed at approval
    refusal = check_arguments(owned, schema)
    if refusal is not None:
        return _refused(refusal)
    if _state.mode is Mode.UNSAFE_IN_PROCESS:
        execution = _in_process(original, code_item, kwargs, context)
    elif _state.sandbox is None:
        return Execution(verdict=Verdict.KILLED, limit="sandbox_unavailable", detail=_state.reason)
    else:
        try:
            execution = _state.sandbox.run(
                code_item.parsed_code, code_item.unique_func_name, kwargs
            )
        except SandboxUnavailable as err:
            return Execution(
                verdict=Verdict.KILLED, limit="sandbox_unavailable", detail=err.message
            )
    if execution.verdict is not Verdict.OK:
        return execution
    refusal = check_release(execution.value, declared, kwargs, private)
    return execution if refusal is None else _refused(refusal, execution)


def _in_process(original: Callable[..., Any], code_item: Any, kwargs: dict[str, Any],
                context: Any) -> Execution:  # fmt: skip
    result = original(code_item, kwargs, context)
    if result.errored:
        return Execution(verdict=Verdict.ERROR, error="Exception", limit="unsafe_in_process")
    return Execution(verdict=Verdict.OK, value=result.result, limit="unsafe_in_process")


def sealed(original: Callable[..., Any]) -> Callable[..., Any]:
    """``execute_byte_code`` replaced: researcher code runs in the sandbox, outputs checked."""

    def execute_byte_code(code_item: Any, kwargs: dict[str, Any], context: Any) -> Any:
        if getattr(code_item, "uses_datasite", False):
            detail = "functions taking a 'datasite' argument cannot run sealed"
            refusal = Execution(verdict=Verdict.REFUSED, rule="argument_type", detail=detail)
            return _output(code_item, refusal)
        if _state.mode is Mode.UNAVAILABLE:
            log.error("refused to run %s: %s", code_item.service_func_name, _state.reason)
            execution = Execution(verdict=Verdict.KILLED, limit="sandbox_unavailable")
            return _unavailable(code_item, execution)
        execution = _run(original, code_item, dict(kwargs), context)
        log.info("sealed run of %s: %s", code_item.service_func_name, execution.verdict)
        return _output(code_item, execution)

    return execute_byte_code


def _unavailable(code_item: Any, execution: Execution) -> Any:
    from syft.service.code.user_code import UserCodeExecutionOutput
    from syft.service.response import SyftError

    _verdicts.last = execution.audit()
    return UserCodeExecutionOutput(user_code_id=code_item.id, stdout="", stderr="",
                                   result=SyftError(message=UNAVAILABLE), errored=True,
                                   safe_error_message=UNAVAILABLE)  # fmt: skip


def install() -> None:
    """Replace syft's in-process ``execute_byte_code`` (the name ``ActionService`` calls)."""
    from syft.service.action import action_service

    action_service.execute_byte_code = sealed(action_service.execute_byte_code)
    _state.installed = True
