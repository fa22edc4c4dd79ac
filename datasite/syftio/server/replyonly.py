"""A call that carries its arguments gets its result in its reply only (``result_unstored``).

syft stores every call's result: serialized into the blob store, a row inserted, read
permissions added. ``result_inline`` then read it back (the row and the blob deserialized) to
put it in the reply, and the pruner deleted it a call later. In the round-overhead probe that
was about a third of what a site's process spends on a call (issue 14).

A call that carried its arguments (``args_inline``: the researcher client's protocol, used
only with sites that list it at ``/site/health``) comes from a client that takes the result
from the reply and never asks for it again. Such a call now gets the object its execution
returned (the egress policy and the copy check have passed it: ``sealed``) in its reply, and
the result is not stored. What a call leaves at the site is unchanged otherwise:

- syft's execution record (``ExecutionOutput``, naming the result's id): the cap counts it;
- the audit's ``executed`` record (the output's keys, shapes, dtypes, bytes and sha256):
  what left the site, for the compliance office.

syft's path is kept, unchanged, for everything else: syft's own client (it stores its
arguments first and fetches the result with ``.get()``), an error result (the researcher
client fetches it), an admin's call, a job. The caller may read the result
either way: syft makes the caller of an approved call the stored result's owner.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

from datasite.syftio.server import carried

# While a call runs: the results it returns without storing them, by id.
_returned: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "returned", default=None
)


def install() -> None:
    """Wrap ``ActionService.set_result_to_store`` and ``UserCodeService._call`` (see above)."""
    from syft.service.action.action_object import ActionObject
    from syft.service.action.action_service import ActionService
    from syft.service.code.user_code_service import UserCodeService
    from syft.types.result import Ok

    original_call: Callable[..., Any] = UserCodeService._call
    if getattr(original_call, "returns_results_unstored", False):
        return
    original_store: Callable[..., Any] = ActionService.set_result_to_store

    @functools.wraps(original_store)
    def set_result_to_store(self: Any, result: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        returned, value = _returned.get(), _readable(result)
        if returned is None or not _reply_only(value, context):
            return original_store(self, result, context, *args, **kwargs)
        value._set_obj_location_(context.server.id, context.credentials)
        returned[result.id.id] = value
        return Ok(result)

    @functools.wraps(original_call)
    def _call(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        returned: dict[Any, Any] = {}
        token = _returned.set(returned)
        try:
            outcome = original_call(self, context, *args, **kwargs)
        finally:
            _returned.reset(token)
        value = outcome.ok() if outcome.is_ok() else None
        if isinstance(value, ActionObject) and value.id.id in returned:
            return Ok(returned[value.id.id])  # syft's reply would be an empty copy of it
        return outcome

    _call.returns_results_unstored = True  # type: ignore[attr-defined]
    UserCodeService._call = _call  # type: ignore[method-assign]
    ActionService.set_result_to_store = set_result_to_store  # type: ignore[method-assign]


def _readable(result: Any) -> Any:
    """What the caller reads of ``result``: a twin's private half (as syft's ``action.get``
    returns it, under the twin's id), else ``result`` itself."""
    from syft.types.twin_object import TwinObject

    return result.private if isinstance(result, TwinObject) else result


def _reply_only(result: Any, context: Any) -> bool:
    """Whether ``result`` (what the caller reads) goes back in the call's reply only: a
    value (not an error, its data in the object) of a call that carried its own arguments,
    by a caller that is not the site's admin, outside a job."""
    from syft.service.action.action_data_empty import ActionDataEmpty
    from syft.service.action.action_object import ActionObject
    from syft.service.user.user_roles import ServiceRole
    from syft.types.result import Err

    return (
        carried.carrier.get() == context.credentials
        and isinstance(result, ActionObject)
        and not issubclass(result.syft_action_data_type or type(None), Err)
        and not isinstance(result.syft_action_data_cache, ActionDataEmpty)
        and result.syft_blob_storage_entry_id is None
        and context.role != ServiceRole.ADMIN
        and getattr(context, "job_id", None) is None
        and not context.has_execute_permissions
    )
