"""The syft 0.9.5 repairs themselves: one function per measured defect.

Nothing here patches anything at import time. :mod:`datasite.syftio.server.patches` is the
registry (target, why, pinned syft version, the test that proves each one) and applies these
functions once, in its documented order, inside the datasite process only.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


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


def fix_blob_references() -> None:
    """``action.set`` stored whatever blob entry an object named: a caller could send an
    object pointing at someone else's stored data (another researcher's weights, an asset's
    private half), which the server then read for it during an approved execution, and a
    TwinObject's mock entry was even made readable by everyone. An object may now only name
    blob entries its sender can read (what it uploaded itself; admins see every entry)."""
    from syft.service.action.action_service import ActionService
    from syft.types.errors import SyftException
    from syft.types.twin_object import TwinObject

    original: Callable[..., Any] = ActionService.set

    @functools.wraps(original)
    def set_checked(self: Any, context: Any, action_object: Any, *args: Any, **kwargs: Any) -> Any:
        halves = (
            (action_object.private_obj, action_object.mock_obj)
            if isinstance(action_object, TwinObject)
            else (action_object,)
        )
        blobs = context.server.services.blob_storage.stash
        for half in halves:
            entry = getattr(half, "syft_blob_storage_entry_id", None)
            if entry is not None and not blobs.get_by_uid(context.credentials, uid=entry).is_ok():
                log.warning("refused action.set naming a blob entry its sender cannot read")
                raise SyftException(
                    public_message="This object refers to stored data you cannot read; "
                    "send the data itself."
                )
        return original(self, context, action_object, *args, **kwargs)

    ActionService.set = set_checked  # type: ignore[method-assign]


def fix_empty_pointers() -> None:
    """``action.get_pointer`` of an object the caller may not read returns an empty copy
    (``as_empty()``) that still names the object's blob entry: anyone who learned an object's
    id learned where its data are stored. The empty copy now names none (a twin's public mock
    is returned as before)."""
    from syft.service.action.action_object import TwinMode
    from syft.service.action.action_permissions import ActionObjectREAD
    from syft.service.action.action_store import ActionObjectStash

    original: Callable[..., Any] = ActionObjectStash.get_pointer

    @functools.wraps(original)
    def get_pointer(self: Any, uid: Any, credentials: Any, server_uid: Any) -> Any:
        found = original(self, uid=uid, credentials=credentials, server_uid=server_uid)
        pointer = found.ok() if found.is_ok() else None
        if (
            pointer is not None
            and pointer.syft_twin_type is not TwinMode.MOCK
            and not self.has_permission(ActionObjectREAD(uid=uid.id, credentials=credentials))
        ):
            pointer.syft_blob_storage_entry_id = None
        return found

    ActionObjectStash.get_pointer = get_pointer  # type: ignore[method-assign]
