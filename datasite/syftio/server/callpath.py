"""Eight costs syft 0.9.5 adds to every approved call, removed (issue 14, round overhead).

**Each argument took a request of its own.** syft's client stores every plain argument of a
call with its own ``action.set`` request and then sends the stored objects again in the call.
``store_inline_arguments`` lets a call carry arguments the store does not hold: plain values
are used for that call and never stored (:mod:`datasite.syftio.server.carried`). Researchers
learn that the site does this from ``/site/health`` (:func:`active`).

**The result came back empty.** ``UserCodeService._call`` returns a researcher's result as an
empty pointer (``result.as_empty()``) unless ``context.extra_kwargs`` says the caller may read
it, which nothing sets for a researcher; the client then fetches the very object it may read
with a second request (``action.get`` plus ``action.has_storage_permission``): one more HTTP
round trip. ``return_readable_results`` answers that ``action.get`` within the call: the same
service read with the caller's own credentials (syft's READ check decides; without it the
empty pointer stands). Nothing leaves that the caller could not ``.get()`` a moment later.

**Each bound object was read three times.** ``ActionService._user_code_execute`` reads every
argument from the action store in ``flatten_action_arg``, again in the input policy's
``is_valid`` and again in its ``filter_kwargs``: each read deserializes the stored object
(an asset's twin) and each new object reloads its blob. ``read_each_object_once`` keeps the
objects read with the server's own key during one execution and hands the same object back;
nothing outside that execution (another request, the pruning thread) sees the memo.

**Each store access read a user record.** The store checks permissions with the caller's
role, which it reads by deserializing their user record: 22 times in one call of a small
function. ``look_up_roles_once`` keeps each account's role for the duration of one code call
(which changes no account), the pruning thread for one pass; other requests look it up.

**Each execution rewrote the whole function record.** After every run syft writes the
UserCode back (``update_code_state``: serialize, deserialize to check, update, read back) to
save its output policy's state, which for a policy that counts from the output history (our
execution cap, syft's ``OutputPolicyExecuteCount``) never changes. ``write_code_state_if_changed``
writes only when the policy states differ from the stored row's (the only fields a call
changes: syft's two callers set the output policy just before, the input policy's getter sets
its state): a policy whose state does change is written as before.

**The input policy was built twice a call.** ``_call`` and ``_user_code_execute`` each
deserialize the function's input policy from the same stored bytes (ours: 72 kB, 22 ms, for
its bound constants), every call again. ``build_input_policy_once`` deserializes a function's
stored bytes once per process (keyed by the function and the bytes themselves, so a changed
policy is read again) and gives each call its own deep copy (0.6 ms), shared within that
call: nothing a call does to its policy reaches another call. The approval check in
``get_input_policy`` still runs each time.

**Each stored object was read back.** syft's ``ObjectStash.set`` serializes the object,
deserializes that to check it can be read, inserts the row, then reads the row back and
deserializes it again to return it (the action store's ``set_or_update``, which stores each
call's arguments and result, throws that object away). ``return_checked_object`` returns the
object the check deserialized from the very fields written: the same data, one query and one
deserialization fewer per stored object (the row was just inserted in the same session, owned
by the credentials the read-back uses). A carried argument that had to be stored
(``args_inline``) is not read again by the execution: the call's reads of it get the object
its store check read (one instance, as ``read_each_object_once`` hands out).

**Each call read the approval eight times.** ``UserCode.get_status`` reads the function's
status record from the store on every look (the execution check, both policies' getters,
twice each, ...). ``read_status_once`` reads it once per code call: the first look decides the
whole call, as if an admin's decision landed just after the call was let in (nothing in a
call changes a status; the next call reads it again).
"""

from __future__ import annotations

import collections
import contextvars
import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

from datasite.syftio.server import carried
from datasite.syftio.server.history import stored_fields

_active: set[str] = set()
_reads: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "reads", default=None
)
_roles: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "roles", default=None
)
_policies: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "policies", default=None
)
_statuses: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "statuses", default=None
)
_stored: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "stored", default=None
)


def _with_memo(
    memo: contextvars.ContextVar[dict[Any, Any] | None], function: Callable[..., Any]
) -> Callable[..., Any]:
    """``function`` with a fresh, empty ``memo`` while it runs (this thread's context only)."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        token = memo.set({})
        try:
            return function(*args, **kwargs)
        finally:
            memo.reset(token)

    return run


def _kept(memo: dict[Any, Any], key: Any, load: Callable[[], Any]) -> Any:
    """``memo[key]``, loaded once; a failed result is handed back, not kept."""
    if key not in memo:
        found = load()
        if not found.is_ok():
            return found
        memo[key] = found
    return memo[key]


def one_role_lookup(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, looking each account's role up once while it runs (``roles_once``)."""
    return _with_memo(_roles, function)


def active() -> list[str]:
    """The call-path patches this process has installed (published at ``/site/health``)."""
    return sorted(_active)


def store_inline_arguments() -> None:
    carried.install()
    _active.add("args_inline")


def return_readable_results() -> None:
    from syft.service.action.action_data_empty import ActionDataEmpty
    from syft.service.action.action_object import ActionObject, TwinMode
    from syft.service.code.user_code_service import UserCodeService
    from syft.types.result import Ok

    original: Callable[..., Any] = UserCodeService._call
    if getattr(original, "returns_readable_results", False):
        return

    @functools.wraps(original)
    def _call(self: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = original(self, context, *args, **kwargs)
        value = outcome.ok() if outcome.is_ok() else None
        if not isinstance(value, ActionObject) or not isinstance(
            value.syft_action_data_cache, ActionDataEmpty
        ):
            return outcome
        # What the caller's own action.get would return, read with the caller's credentials
        # (syft checks READ permission); without it the empty pointer stands.
        readable = context.server.services.action._get(context, value.id, TwinMode.PRIVATE)
        return Ok(readable.ok()) if readable.is_ok() else outcome

    _call.returns_readable_results = True  # type: ignore[attr-defined]
    UserCodeService._call = _call  # type: ignore[method-assign]
    _active.add("result_inline")


def read_each_object_once() -> None:
    from syft.service.action.action_service import ActionService
    from syft.service.action.action_store import ActionObjectStash

    execute: Callable[..., Any] = ActionService._user_code_execute
    get: Callable[..., Any] = ActionObjectStash.get
    if getattr(get, "reads_once", False):
        return

    @functools.wraps(get)
    def stash_get(self: Any, uid: Any, credentials: Any, has_permission: bool = False) -> Any:
        memo = _reads.get()
        if memo is None or credentials != self.root_verify_key:
            return get(self, uid=uid, credentials=credentials, has_permission=has_permission)
        load = functools.partial(get, self, uid=uid, credentials=credentials,
                                 has_permission=has_permission)  # fmt: skip
        return _kept(memo, uid.id, load)

    stash_get.reads_once = True  # type: ignore[attr-defined]
    ActionService._user_code_execute = _with_memo(_reads, execute)  # type: ignore[method-assign]
    ActionObjectStash.get = stash_get  # type: ignore[method-assign]
    _active.add("read_once")


def look_up_roles_once() -> None:
    from syft.service.code.user_code_service import UserCodeService
    from syft.store.db.stash import ObjectStash

    call: Callable[..., Any] = UserCodeService._call
    get_role: Callable[..., Any] = ObjectStash.get_role
    if getattr(get_role, "once_per_call", False):
        return

    @functools.wraps(get_role)
    def role(self: Any, credentials: Any, *args: Any, **kwargs: Any) -> Any:
        memo = _roles.get()
        if memo is None:
            return get_role(self, credentials, *args, **kwargs)
        if credentials not in memo:
            memo[credentials] = get_role(self, credentials, *args, **kwargs)
        return memo[credentials]

    role.once_per_call = True  # type: ignore[attr-defined]
    UserCodeService._call = _with_memo(_roles, call)  # type: ignore[method-assign]
    ObjectStash.get_role = role  # type: ignore[method-assign]
    _active.add("roles_once")


POLICY_STATES = ("input_policy_state", "output_policy_state")  # what an execution changes


def write_code_state_if_changed() -> None:
    from syft.serde.json_serde import serialize_json
    from syft.service.code.user_code_service import UserCodeService

    update: Callable[..., Any] = UserCodeService.update_code_state
    if getattr(update, "writes_if_changed", False):
        return

    @functools.wraps(update)
    def update_code_state(self: Any, context: Any, code_item: Any) -> Any:
        stored, fields = stored_fields(self.stash, code_item.id), type(code_item).model_fields
        if stored is not None and all(
            stored.get(key) == serialize_json(getattr(code_item, key), fields[key].annotation)
            for key in POLICY_STATES
        ):
            return code_item  # nothing to write
        return update(self, context, code_item)

    update_code_state.writes_if_changed = True  # type: ignore[attr-defined]
    UserCodeService.update_code_state = update_code_state  # type: ignore[method-assign]
    _active.add("state_if_changed")


_built: collections.OrderedDict[Any, Any] = collections.OrderedDict()
_built_lock = threading.Lock()
BUILT_KEPT = 64  # functions whose input policy stays deserialized


def _copy_of_built(key: Any, build: Callable[..., Any], code: Any) -> Any:
    """A deep copy of the policy deserialized from ``key``'s bytes (once per process)."""
    with _built_lock:
        built = _built.get(key)
        if built is not None:
            _built.move_to_end(key)
    if built is None:
        built = build(code)
        if built is None:  # a state syft could not read: nothing to keep
            return None
        with _built_lock:
            _built[key] = built
            while len(_built) > BUILT_KEPT:
                _built.popitem(last=False)
    return copy.deepcopy(built)


def build_input_policy_once() -> None:
    from syft.service.code.user_code import UserCode
    from syft.service.code.user_code_service import UserCodeService

    call: Callable[..., Any] = UserCodeService._call
    build: Callable[..., Any] = UserCode._get_input_policy
    if getattr(build, "once_per_call", False):
        return

    @functools.wraps(build)
    def get_input_policy(self: Any) -> Any:
        memo = _policies.get()
        if memo is None:
            return build(self)
        key = (self.id, self.input_policy_state)
        found = memo.get(key)
        if found is None:  # from no stored state, building also sets the state
            found = memo[key] = _copy_of_built(key, build, self) if key[1] else build(self)
        return found

    get_input_policy.once_per_call = True  # type: ignore[attr-defined]
    UserCodeService._call = _with_memo(_policies, call)  # type: ignore[method-assign]
    UserCode._get_input_policy = get_input_policy  # type: ignore[method-assign]
    _active.add("policy_once")


def return_checked_object() -> None:
    from syft.store.db import stash as module
    from syft.store.db.stash import ObjectStash
    from syft.types.result import Ok

    store: Callable[..., Any] = ObjectStash.set
    read: Callable[..., Any] = ObjectStash.get_by_uid
    serialize, deserialize = module.serialize_json, module.deserialize_json
    if getattr(store, "returns_checked", False):
        return

    @functools.wraps(store)
    def set_(self: Any, credentials: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        memo: dict[str, Any] = {"obj": obj}  # what this set writes, and what its check read
        token = _stored.set(memo)
        try:
            outcome = store(self, credentials, obj, *args, **kwargs)
        finally:
            _stored.reset(token)
        seeds = carried.capture.get()
        if seeds is not None and memo.get("served") and outcome.is_ok():
            seeds[obj.id.id] = outcome  # the stored object, as a read would return it
        return outcome

    def serialize_json(value: Any, *args: Any, **kwargs: Any) -> Any:
        fields = serialize(value, *args, **kwargs)
        memo = _stored.get()
        if memo is not None and value is memo["obj"]:
            memo["fields"] = fields
        return fields

    def deserialize_json(value: Any, *args: Any, **kwargs: Any) -> Any:
        found = deserialize(value, *args, **kwargs)
        memo = _stored.get()
        if memo is not None and "fields" in memo and value is memo["fields"]:
            memo["checked"] = found
        return found

    @functools.wraps(read)
    def get_by_uid(self: Any, credentials: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
        memo = _stored.get()
        if memo is not None and "checked" in memo and uid == memo["obj"].id:
            memo["served"] = True
            return Ok(memo.pop("checked"))  # the read-back at the end of this set
        return read(self, credentials, uid, *args, **kwargs)

    set_.returns_checked = True  # type: ignore[attr-defined]
    ObjectStash.set, ObjectStash.get_by_uid = set_, get_by_uid  # type: ignore[method-assign]
    module.serialize_json, module.deserialize_json = serialize_json, deserialize_json
    _active.add("stored_not_reread")


def read_status_once() -> None:
    from syft.service.code.user_code import UserCode
    from syft.service.code.user_code_service import UserCodeService

    call: Callable[..., Any] = UserCodeService._call
    get_status: Callable[..., Any] = UserCode.get_status
    if getattr(get_status, "once_per_call", False):
        return

    @functools.wraps(get_status)
    def status(self: Any, context: Any) -> Any:
        memo = _statuses.get()
        if memo is None or context is None or self.status_link is None:
            return get_status(self, context)
        return _kept(memo, self.status_link.object_uid, lambda: get_status(self, context))

    status.once_per_call = True  # type: ignore[attr-defined]
    UserCodeService._call = _with_memo(_statuses, call)  # type: ignore[method-assign]
    UserCode.get_status = status  # type: ignore[method-assign]
    _active.add("status_once")
