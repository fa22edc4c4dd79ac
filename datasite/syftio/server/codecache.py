"""A function's stored record is deserialized once per version, not on every read (issue 14).

Every call of an approved function reads its ``UserCode`` record (the reviewed source, its
signature, both policies and their states) and syft deserializes the whole row each time:
in the round-overhead probe this was the largest single store read of a call. The store is
still queried on every read, with syft's own permission filter (whoever could not read the
record still cannot); only turning the row's stored fields into an object is kept:
:func:`keep_code_records` keeps, per record, the fields it was read from and the object, and
hands out a deep copy while the row's fields are the same (any write, such as a policy state
or a new status link, means the next read deserializes the new fields). Each read gets its
own copy, so nothing a call changes on its record reaches another call or the kept object.
"""

from __future__ import annotations

import collections
import copy
import functools
import threading
from collections.abc import Callable
from typing import Any

KEPT = 64  # records kept deserialized (least recently used go first)
_kept: collections.OrderedDict[Any, tuple[Any, Any]] = collections.OrderedDict()
_lock = threading.Lock()


def keep_code_records() -> None:
    from syft.service.code.user_code_stash import UserCodeStash

    original: Callable[..., Any] = UserCodeStash.row_as_obj
    if getattr(original, "keeps_records", False):
        return

    @functools.wraps(original)
    def row_as_obj(self: Any, row: Any) -> Any:
        with _lock:
            kept = _kept.get(row.id)
            if kept is not None and kept[0] == row.fields:
                _kept.move_to_end(row.id)
                return copy.deepcopy(kept[1])
        found = original(self, row)
        with _lock:
            _kept[row.id] = (copy.deepcopy(row.fields), copy.deepcopy(found))
            while len(_kept) > KEPT:
                _kept.popitem(last=False)
        return found

    row_as_obj.keeps_records = True  # type: ignore[attr-defined]
    UserCodeStash.row_as_obj = row_as_obj  # type: ignore[method-assign]
