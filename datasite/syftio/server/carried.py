"""The arguments a call carries (``args_inline``, issue 14): used for that call, not stored.

syft's client stores every plain argument of a call with an ``action.set`` request of its own
and then sends the stored objects in the call. A call may instead carry arguments the store
does not hold (the researcher's weights, ``task``, ``round_index``):

- **A plain value** (its data in the object itself: no blob entry, not saved to the blob
  store, not a link to another stored object) is never stored. The call's own reads of it
  (syft's input policy, the execution, the privacy guard) get the carried object, marked as
  the caller's; syft's ownership rule (``UserOwned``) holds for it only for the caller. It is
  gone when the call ends: nothing a researcher sends for one call stays at the site.
- **Anything else** not yet stored is stored first, exactly as the caller's own ``action.set``
  would (the same service method with its checks, the caller's credentials), and the call's
  reads get the object that store's check read (``stored_not_reread``).
- **A link** (data naming another stored object, which syft's reads resolve with the site's
  own key) is refused: a caller could name another researcher's stored result that way.

Only roles that may call ``action.set`` carry arguments; an id already in the store is left
to syft's checks. Before, each call's carried weights were serialized, checked, inserted and
later pruned (about a quarter of a site's CPU per call in the round-overhead probe).
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable
from typing import Any

# While a call runs: its carried arguments as a read returns them (``Ok(object)``), by id.
seeds: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar("seeds", default=None)
# ... and, for those never stored, the account that carried them.
owners: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "owners", default=None
)
# ... and the account that carried any argument in this call, plain or stored first (None
# when the call carried none: syft's own client); ``replyonly`` reads it.
carrier: contextvars.ContextVar[Any] = contextvars.ContextVar("carrier", default=None)
# Set only around the store of a carried argument that is not plain (see ``_stored``).
capture: contextvars.ContextVar[dict[Any, Any] | None] = contextvars.ContextVar(
    "capture", default=None
)
LINK_REFUSED = "An argument refers to another stored object; send the data itself."


def install() -> None:
    """Wrap ``UserCodeService._call`` (and ``UserOwned.is_owned``) as the module says."""
    from syft.service.action.action_store import ActionObjectStash
    from syft.service.code.user_code_service import UserCodeService
    from syft.service.policy.policy import UserOwned
    from syft.types.errors import SyftException
    from syft.types.result import Err

    original: Callable[..., Any] = UserCodeService._call
    if getattr(original, "stores_inline_arguments", False):
        return

    @functools.wraps(original)
    def _call(self: Any, context: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
        found: dict[Any, Any] = {}
        carriers: dict[Any, Any] = {}
        try:
            took = _take_carried(context, kwargs, found, carriers)
        except SyftException as err:  # a refused argument: a failed call, as syft's own are
            return Err(err)
        tokens = seeds.set(found), owners.set(carriers)
        by = carrier.set(context.credentials if took else None)
        try:
            return original(self, context, uid, *args, **kwargs)
        finally:
            seeds.reset(tokens[0])
            owners.reset(tokens[1])
            carrier.reset(by)

    owned: Callable[..., Any] = UserOwned.is_owned

    @functools.wraps(owned)
    def is_owned(self: Any, context: Any, action_object: Any) -> bool:
        carrier = (owners.get() or {}).get(action_object.id.id)
        if carrier is not None:  # carried by this call, never stored: owned by its caller
            return bool(carrier == context.credentials)
        return bool(owned(self, context, action_object))

    get: Callable[..., Any] = ActionObjectStash.get

    @functools.wraps(get)
    def stash_get(self: Any, uid: Any, credentials: Any, has_permission: bool = False) -> Any:
        found = (seeds.get() or {}).get(uid.id)  # read by the caller or the site in this call
        if found is not None:
            return found
        return get(self, uid=uid, credentials=credentials, has_permission=has_permission)

    _call.stores_inline_arguments = True  # type: ignore[attr-defined]
    UserCodeService._call = _call  # type: ignore[method-assign]
    UserOwned.is_owned = is_owned  # type: ignore[method-assign]
    ActionObjectStash.get = stash_get  # type: ignore[method-assign]


def _take_carried(
    context: Any, kwargs: dict[str, Any], found: dict[Any, Any], carriers: dict[Any, Any]
) -> bool:
    """Replace each carried argument in ``kwargs`` by the object the call will use; whether
    the call carried any."""
    from syft.service.action.action_object import ActionObject
    from syft.service.user.user_roles import ServiceRole
    from syft.types.errors import SyftException
    from syft.types.result import Ok

    if context.role.value < ServiceRole.DATA_SCIENTIST.value:  # who may call action.set
        return False
    action, took = context.server.services.action, False
    for key, value in kwargs.items():
        if not isinstance(value, ActionObject) or action.stash.exists(
            context.credentials, value.id
        ):
            continue
        took = True
        if value.is_link:
            raise SyftException(public_message=LINK_REFUSED)
        if _plain(value):
            value.syft_client_verify_key = context.credentials
            value.syft_point_to(context.server.id)
            found[value.id.id], carriers[value.id.id] = Ok(value), context.credentials
        else:
            kwargs[key] = _stored(found, action, context, value)
    return took


def _plain(value: Any) -> bool:
    """Whether all of ``value``'s data are in the object itself (nothing in the blob store)."""
    from syft.service.action.action_data_empty import ActionDataEmpty

    return (
        value.syft_blob_storage_entry_id is None
        and not value.syft_action_saved_to_blob_store
        and not isinstance(value.syft_action_data_cache, ActionDataEmpty)
    )


def _stored(found: dict[Any, Any], action: Any, context: Any, value: Any) -> Any:
    """``action.set(context, value)``; the object its store check read goes into ``found``."""
    token = capture.set(found)
    try:
        return action.set(context, value)
    finally:
        capture.reset(token)
