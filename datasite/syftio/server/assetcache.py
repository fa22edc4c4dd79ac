"""Keep the assets an approved function reads between its calls (issue 14, round overhead).

Every call of a training function reads each bound asset from the store again: syft
deserializes the stored TwinObject and reloads its private data from the blob store, a cost
that grows with the dataset (each round of a federated run pays it again for the same bytes).
:func:`keep_assets` keeps the TwinObjects the server reads with its own key, up to a byte
budget (least recently used go first), and hands the kept object back while the stored row
is unchanged: before each use the row's stored fields are read (no deserialization) and
compared with the fields the object was read from, so any write to the asset (a new version,
a deletion) means a fresh read. Only the server's own reads are served (callers' reads keep
their permission checks); results and arguments, which are not twins, are never kept.

The budget is the site's ``DATASITE_ASSET_CACHE_MB`` (default 1024; 0 turns this off): the
private data stay in the site process's memory between calls, where each call loads them
anyway. An asset's data are loaded during the call that reads it, so the budget is applied
again when each call returns: an asset larger than the whole budget is used by that call and
dropped right after it, never kept between calls.
"""

from __future__ import annotations

import collections
import functools
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from datasite.errors import ConfigError
from datasite.syftio.server.history import stored_fields

BUDGET_ENV, DEFAULT_BUDGET_MB = "DATASITE_ASSET_CACHE_MB", 1024
_kept: collections.OrderedDict[Any, tuple[Any, Any]] = collections.OrderedDict()
_lock = threading.Lock()


def _size(twin: Any) -> int:
    total = 0
    for half in (twin.private_obj, twin.mock_obj):
        data = getattr(half, "syft_action_data_cache", None)
        total += int(getattr(data, "nbytes", 0)) or sys.getsizeof(data)
    return total


def _trim(budget: int) -> None:
    """Drop the least recently used objects until the kept ones fit ``budget`` bytes."""
    sizes = {key: _size(found.ok()) for key, (_, found) in _kept.items()}
    while _kept and sum(sizes.values()) > budget:
        key, _ = _kept.popitem(last=False)
        sizes.pop(key)


def budget_mb(env: Mapping[str, str] = os.environ) -> int:
    raw = env.get(BUDGET_ENV, str(DEFAULT_BUDGET_MB)).strip()
    if not raw.isdigit():
        raise ConfigError(
            f"{BUDGET_ENV} must be a whole number of MB (0 keeps no assets between calls), "
            f"not {raw!r}."
        )
    return int(raw)


_budget = [DEFAULT_BUDGET_MB * 1024 * 1024]  # bytes, as keep_assets set it


def trim() -> None:
    """Drop the least recently used kept objects until they fit the budget."""
    with _lock:
        _trim(_budget[0])


def kept_ids() -> list[Any]:
    with _lock:
        return list(_kept)


def trimmed_after(call: Callable[..., Any], budget: int) -> Callable[..., Any]:
    """``call``, after which the kept objects are trimmed to ``budget`` bytes (their data
    are loaded by then, so their sizes are known)."""

    @functools.wraps(call)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        finally:
            with _lock:
                _trim(budget)

    return run


def keep_assets(budget_mb: int = DEFAULT_BUDGET_MB) -> None:
    from syft.service.action.action_store import ActionObjectStash
    from syft.service.code.user_code_service import UserCodeService
    from syft.types.twin_object import TwinObject

    get: Callable[..., Any] = ActionObjectStash.get
    budget = budget_mb * 1024 * 1024
    if getattr(get, "keeps_assets", False) or budget <= 0:
        return
    _budget[0] = budget
    UserCodeService._call = trimmed_after(UserCodeService._call, budget)  # type: ignore[method-assign]

    @functools.wraps(get)
    def stash_get(self: Any, uid: Any, credentials: Any, has_permission: bool = False) -> Any:
        if credentials != self.root_verify_key:
            return get(self, uid=uid, credentials=credentials, has_permission=has_permission)
        key = uid.id
        fields = stored_fields(self, key)  # before the read: a write in between shows
        with _lock:
            _trim(budget)
            kept = _kept.get(key)
            if kept is not None and fields is not None and kept[0] == fields:
                _kept.move_to_end(key)
                return kept[1]
            _kept.pop(key, None)
        found = get(self, uid=uid, credentials=credentials, has_permission=has_permission)
        if found.is_ok() and isinstance(found.ok(), TwinObject) and fields is not None:
            with _lock:
                _kept[key] = (fields, found)
        return found

    stash_get.keeps_assets = True  # type: ignore[attr-defined]
    ActionObjectStash.get = stash_get  # type: ignore[method-assign]
