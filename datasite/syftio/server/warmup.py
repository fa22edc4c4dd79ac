"""Load an approved function's assets when the admin approves it, not in its first call.

The first call of an approved function read each bound asset from the store and its
private data from the blob store (``assets_kept`` keeps them for the calls after it): a
cost that grows with the dataset, paid inside the first training round. Once a request is
approved, a background thread of the site reads the function's bound assets with the site's
own key, through the same kept-asset store (``assetcache``): the first call finds them loaded.
Nothing leaves the site and nothing is written; the kept assets' byte budget
(``DATASITE_ASSET_CACHE_MB``) applies as for any call. A failure only means the first call
reads the assets itself, as before: it is logged, never raised to the admin.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from datasite.review.facts import BindingKind, RequestStatus
from datasite.syftio.server import assetcache
from datasite.syftio.server import requests as rr

log = logging.getLogger(__name__)
_pool = ThreadPoolExecutor(1, thread_name_prefix="warm")


def install(worker: Any) -> None:
    """Wrap this worker's ``request.apply``: each approval warms its function's assets."""
    service = worker.services.request
    original: Callable[..., Any] = service.apply

    @functools.wraps(original)
    def apply(context: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(context, uid, *args, **kwargs)
        _pool.submit(_safely, worker, uid)
        return result

    service.apply = apply


def wait() -> None:
    """Block until the warm-ups submitted so far have finished (tests, benchmarks)."""
    _pool.submit(lambda: None).result()


def _safely(worker: Any, request_id: Any) -> None:
    try:
        log.info("loaded %d asset(s) of approved request %s", warm(worker, request_id),
                 request_id)  # fmt: skip
    except Exception:  # the first call reads the assets itself
        log.exception("warming the assets of request %s failed (the first call loads them)",
                      request_id)  # fmt: skip


def warm(worker: Any, request_id: Any) -> int:
    """Read the bound assets of an approved request's function into the kept-asset store;
    how many were loaded."""
    stash, loaded = worker.services.action.stash, 0
    if not getattr(type(stash).get, "keeps_assets", False):  # assets_kept off: nothing kept
        return 0
    request = worker.services.request.stash.get_by_uid(worker.verify_key, request_id).unwrap()
    if rr.status_of(request) is not RequestStatus.APPROVED:
        return 0
    found_code = request.get_user_code(rr.root_context(worker))
    if found_code.is_err():  # not a code request: nothing to load
        return 0
    code = found_code.ok()
    for uid in _bound_ids(code):
        found = stash.get(uid, worker.verify_key)  # the kept-asset store's own read
        twin = found.ok() if found.is_ok() else None
        private = getattr(twin, "private_obj", None)
        if private is None:
            continue
        private._set_obj_location_(worker.id, worker.verify_key)  # read as the site itself
        _ = private.syft_action_data  # loads the blob into the kept object
        loaded += 1
    assetcache.trim()
    return loaded


def _bound_ids(code: Any) -> list[Any]:
    """The store ids of the assets the function's input policy binds, as the review and
    the audit read them (``requests.bindings``)."""
    from syft.types.uid import UID

    bound = rr.bindings(code, {}).values()
    return [UID.from_string(b.id) for b in bound if b.kind == BindingKind.ASSET and b.id]
