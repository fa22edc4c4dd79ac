"""Keep the store from growing every round: delete results the platform no longer needs.

syft 0.9.5 keeps, for every call of approved code, the result object (a training reply is a
full set of weights; >= 1 MB goes to the blob store on disk) and the caller's uploaded
arguments (the global weights again). Nothing reads them after the caller fetched the
result, so the store grew by about two models per site per call.

After each call of a function, the objects of its *earlier* calls (their results and the
caller's uploaded arguments; never a dataset's assets, never an argument the new call uses)
are deleted in a background thread, off the call's path, started once the call's reply has
been sent (``afterreply``), not while it is signed. The caller has fetched them by then:
the coordinator reads each reply before its next call. Which executions are earlier is known
from that thread's last read of the function's history (the store is read on the call's path
only at a function's first call after launch: the history grows every round). That read takes
the history's rows without deserializing them and deserializes only the records not pruned yet
(the latest call's and the one before it), so its cost does not grow with the rounds. What stays:

- syft's ``ExecutionOutput`` records (a few hundred bytes each): the execution cap counts them;
- our audit log: every execution's output keys, shapes, dtypes, bytes and sha256, written
  before anything is deleted (``audit_hooks``).

An object whose data are all in its row (no blob: a call's small arguments, a result under
the blob threshold) is deleted by that row, as syft's ``action.delete`` ends, without reading
it first (syft deserializes the whole object to look for a blob); the pass looks up the site's
own role once (``callpath.one_role_lookup``), not once per read and delete.

A caller that asks for an old result again gets syft's "not found" error.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from datasite.syftio.server import afterreply, callpath, history
from datasite.syftio.server import requests as rr
from datasite.syftio.server.history import stored_fields

log = logging.getLogger(__name__)


class Pruner:
    """Deletes the objects of superseded executions of each user code."""

    def __init__(self, worker: Any) -> None:
        self.worker = worker
        self.done: set[str] = set()  # ExecutionOutput ids already pruned (or tried)
        self.known: dict[str, set[str]] = {}  # code id -> its ExecutionOutput ids, last read
        self.lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prune")

    def history_rows(self, code_id: Any) -> dict[str, Any]:
        """The function's execution records as rows (not deserialized), by id."""
        stash = self.worker.services.output.stash
        found = history.rows(stash, self.worker.verify_key, {"user_code_id": code_id})
        return {row.id.no_dash: row for row in found}

    def records(self, rows: list[Any]) -> list[Any]:
        stash = self.worker.services.output.stash
        return [stash.row_as_obj(row) for row in rows]

    def recorded(self, code_id: Any) -> set[str]:
        """The ids of the function's executions recorded so far: as the pruning thread last
        read them (a subset of the store's while a prune is under way: it prunes less, never
        more), else from the store."""
        known = self.known.get(str(code_id))
        return set(known) if known is not None else set(self.history_rows(code_id))

    def after_call(self, code_id: Any, before: set[str]) -> None:
        """Prune the executions recorded before this call (their ids are ``before``)."""
        with self.lock:
            rows = self.history_rows(code_id)
            self.known[str(code_id)] = set(rows)
            current = self.records([row for uid, row in rows.items() if uid not in before])
            keep = {str(uid) for o in current for uid in _ids(o)}
            undone = [row for uid, row in rows.items() if uid in before and uid not in self.done]
            old = self.records(undone)
            assets = set(rr.asset_index(self.worker))
            doomed = {
                str(uid): uid
                for o in old
                for uid in _ids(o)
                if str(uid) not in keep and getattr(uid, "no_dash", "") not in assets
            }
            deleted = sum(self.delete(uid) for uid in doomed.values())
            self.done.update(o.id.no_dash for o in old)
        if old:
            log.info("pruned %d objects of %d earlier executions", deleted, len(old))

    def delete(self, uid: Any) -> bool:
        """Delete one stored object: one without blobs by its row alone, as syft's own delete
        ends; one with a blob through syft's ``action.delete``, which reads (deserializes)
        the whole object first to find its blob."""
        action = self.worker.services.action
        try:
            fields = stored_fields(action.stash, uid)
            if fields is None:
                return False  # already gone
            if _inline(fields):
                action.stash.delete_by_uid(credentials=self.worker.verify_key, uid=uid).unwrap()
            else:
                action.delete(rr.root_context(self.worker), uid)
            return True
        except Exception as err:  # noqa: BLE001 - never stored, or the store failed: skip it
            log.debug("prune: cannot delete %s: %s", uid, err)
            return False


def _inline(fields: Any) -> bool:
    """A stored row whose data are all in the row: an ActionObject, or both halves of a twin
    (a result computed on an asset), none with a blob entry."""
    if not isinstance(fields, dict):
        return False
    parts = [fields[half] for half in ("private_obj", "mock_obj") if half in fields] or [fields]
    return all(
        isinstance(part, dict)
        and "syft_blob_storage_entry_id" in part
        and part["syft_blob_storage_entry_id"] is None
        for part in parts
    )


def _ids(output: Any) -> list[Any]:
    outs = output.output_ids or []
    values = list(outs.values()) if isinstance(outs, dict) else list(outs)
    return values + list((output.input_ids or {}).values())


def install(worker: Any) -> Pruner:
    """Wrap this worker's ``user_code._call`` so that each call prunes the ones before it."""
    pruner = Pruner(worker)
    service = worker.services.user_code
    original: Callable[..., Any] = service._call

    @functools.wraps(original)
    def call(context: Any, uid: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            before = pruner.recorded(uid)
        except Exception:  # noqa: BLE001 - unknown code: syft's own error follows
            return original(context, uid, *args, **kwargs)
        result = original(context, uid, *args, **kwargs)
        # prunes and reads the history once the reply is sent (not beside its signing)
        work = callpath.one_role_lookup(pruner.after_call)  # the site's own role, each delete
        afterreply.later(lambda: pruner.pool.submit(_safely, work, uid, before))
        return result

    service._call = call
    return pruner


def _safely(work: Callable[..., None], *args: Any) -> None:
    try:
        work(*args)
    except Exception:
        log.exception("pruning old execution results failed (the store keeps them)")
