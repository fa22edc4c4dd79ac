"""Fixes for measured syft 0.9.5 defects, applied inside the datasite process only.

Pinned: every fix checks that the installed syft is exactly 0.9.5 and refuses to patch any
other version (the patched functions may have changed). Each fix has a test that fails
without it (tests/integration/test_syft_fixes.py).

1. Execution cap (PySyft #9391): ``UserCodeService.is_execution_allowed`` calls
   ``output_policy.is_valid(context)`` but ignores a False result, so an approval for N
   executions allows any number. We treat False as INVALID_OUTPUT_POLICY.
2. Payload walk: ``attach_attribute_to_syft_object`` recurses into every element of ``bytes``
   and ``str`` results (measured: a 131 MB asset call 24 s -> 2.1 s once skipped). Neither
   type can hold a syft object, so we return early for them.
3. No read-only role: a GUEST may submit code, requests, projects and even execute actions.
   The platform's compliance role is GUEST, so GUEST keeps only the read-only service paths
   in ``GUEST_READ_ONLY_PATHS``; anything else is answered "you have no access to: PATH".
4. Every call runs twice: ``ActionService._user_code_execute`` runs approved code on the
   private inputs and again on their mocks, to build a mock twin of the result (a training
   round costs two rounds). The caller of an approved function reads the private result, so
   we skip the mock run: the result's mock twin is None.
5. Forged execution records: any data scientist can call ``code.store_execution_output`` and
   append a fake entry to the output history. Only admins keep that path.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
SYFT_VERSION = "0.9.5"
_applied: set[str] = set()


def _check_version() -> None:
    import syft

    if syft.__version__ != SYFT_VERSION:
        raise RuntimeError(
            f"datasite.syftio.server.fixes targets syft=={SYFT_VERSION}, found {syft.__version__}. "
            "Install the pinned version (scripts/setup) or review every fix first."
        )


def fix_execution_cap() -> None:
    from syft.service.code.user_code_service import IsExecutionAllowedEnum, UserCodeService

    original: Callable[..., Any] = UserCodeService.is_execution_allowed

    @functools.wraps(original)
    def is_execution_allowed(self: Any, code: Any, context: Any, output_policy: Any) -> Any:
        verdict = original(self, code, context, output_policy)
        used_up = (
            verdict is IsExecutionAllowedEnum.ALLOWED
            and output_policy is not None
            and output_policy.is_valid(context) is False
        )
        if used_up:
            log.info("refused %s: approved executions used up", code.service_func_name)
            return IsExecutionAllowedEnum.INVALID_OUTPUT_POLICY
        return verdict

    UserCodeService.is_execution_allowed = is_execution_allowed  # type: ignore[method-assign]


def fix_payload_walk() -> None:
    from syft.service import service
    from syft.types import syft_object

    original: Callable[..., None] = syft_object.attach_attribute_to_syft_object

    @functools.wraps(original)
    def attach(result: Any, attr_dict: dict[str, Any]) -> None:
        if isinstance(result, (bytes, bytearray, memoryview, str)):
            return None
        return original(result, attr_dict)

    syft_object.attach_attribute_to_syft_object = attach
    service.attach_attribute_to_syft_object = attach  # type: ignore[attr-defined]


_runs: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("runs", default=None)


def fix_single_run() -> None:
    from syft.service.action import action_service
    from syft.service.code.user_code import UserCodeExecutionOutput

    execute = action_service.ActionService._user_code_execute
    run_code = action_service.execute_byte_code

    @functools.wraps(execute)
    def user_code_execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        token = _runs.set([0])
        try:
            return execute(self, *args, **kwargs)
        finally:
            _runs.reset(token)

    @functools.wraps(run_code)
    def execute_byte_code(code_item: Any, kwargs: dict[str, Any], context: Any) -> Any:
        runs = _runs.get()
        if runs is not None:
            runs[0] += 1
            if runs[0] > 1:  # the second run of one call is the mock-twin run: skip it
                return UserCodeExecutionOutput(
                    user_code_id=code_item.id, stdout="", stderr="", result=None
                )
        return run_code(code_item, kwargs, context)

    action_service.ActionService._user_code_execute = user_code_execute  # type: ignore[method-assign]
    action_service.execute_byte_code = execute_byte_code


GUEST_READ_ONLY_PATHS = frozenset(
    {
        "action.exists",
        "action.get",
        "action.get_mock",
        "action.get_pointer",
        "action.has_storage_permission",
        "action.is_resolved",
        "blob_storage.read",
        "code.get_all",
        "code.get_by_service_func_name",
        "code_status.get_by_uid",
        "dataset.get_all",
        "dataset.search",
        "job.get",
        "metadata.get_env",
        "metadata.get_metadata",
        "output.get",
        "output.get_all",
        "output.get_by_output_policy_id",
        "output.get_by_user_code_id",
        "output.has_output_read_permissions",
        "project.get_all",
        "project.get_by_name",
        "project.get_by_uid",
        "settings.welcome_show",
        "user.get_current_user",
    }
)
ADMIN_ONLY_PATHS = frozenset({"code.store_execution_output"})


def fix_role_registry() -> None:
    from syft.service.service import UserServiceConfigRegistry
    from syft.service.user.user_roles import ServiceRole

    original = UserServiceConfigRegistry.from_role.__func__  # type: ignore[attr-defined]

    def allowed(role: Any, path: str) -> bool:
        if role == ServiceRole.GUEST:
            return path in GUEST_READ_ONLY_PATHS
        return path not in ADMIN_ONLY_PATHS or role.value >= ServiceRole.DATA_OWNER.value

    @functools.wraps(original)
    def from_role(cls: Any, user_service_role: Any) -> Any:
        full = original(cls, user_service_role).get_registered_configs()
        return cls({p: c for p, c in full.items() if allowed(user_service_role, p)})

    UserServiceConfigRegistry.from_role = classmethod(from_role)  # type: ignore[assignment]


FIXES: dict[str, Callable[[], None]] = {
    "execution_cap": fix_execution_cap,
    "payload_walk": fix_payload_walk,
    "role_registry": fix_role_registry,
    "single_run": fix_single_run,
}


def apply_all(skip: frozenset[str] = frozenset()) -> None:
    """Apply every fix once (idempotent). ``skip`` exists for the tests that prove each fix."""
    _check_version()
    for name, fix in FIXES.items():
        if name in skip or name in _applied:
            continue
        fix()
        _applied.add(name)
        log.info("applied syft %s fix: %s", SYFT_VERSION, name)
