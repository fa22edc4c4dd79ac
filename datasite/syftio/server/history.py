"""A function's execution history is read only where it is used (issue 14, round overhead).

Every approved call read all the earlier execution records of its function twice, each one
deserialized: ``UserCodeService._call`` reads the whole history before it runs anything
(it looks at it only when the call is refused: to answer from the last result), and the
execution cap (``OutputPolicyExecuteCount.count``, which our ``execution_cap`` fix relies on)
reads it again to count it. A federated run calls the same function every round, so both
reads grow with the rounds (measured in-process: 5.5 ms each at 10 records, 12 ms at 30).

- :func:`count_history_rows`: on the server the cap counts the rows with the very query syft
  used (same filter, same permission check), without deserializing them.
- :func:`read_history_when_used`: ``UserCode.get_output_history`` hands back a sequence that
  reads the history the first time it is looked at (only ``_call`` calls it on the server).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import Any, overload


class LazyHistory(Sequence[Any]):
    """The records ``load`` returns, read at the first look."""

    def __init__(self, load: Callable[[], Iterable[Any]]) -> None:
        self._load = load
        self._items: list[Any] | None = None

    def _all(self) -> list[Any]:
        if self._items is None:
            self._items = list(self._load())
        return self._items

    def __len__(self) -> int:
        return len(self._all())

    @overload
    def __getitem__(self, index: int) -> Any: ...
    @overload
    def __getitem__(self, index: slice) -> list[Any]: ...
    def __getitem__(self, index: int | slice) -> Any:
        return self._all()[index]


def rows(stash: Any, credentials: Any, filters: dict[str, Any]) -> list[Any]:
    """The rows ``stash.get_all(credentials, filters)`` would deserialize, not deserialized
    (each has ``.id``, a UID; ``stash.row_as_obj(row)`` gives the object)."""
    from syft.store.db.stash import parse_filters

    with stash.sessionmaker() as session:
        query = stash.query()
        query = query.with_permissions(credentials, stash.get_role(credentials, session=session))
        for field, operator, value in parse_filters(filters):
            query = query.filter(field, operator, value)
        return list(query.execute(session).all())


def stored_fields(stash: Any, uid: Any) -> Any:
    """A row's stored fields as the database returns them, not deserialized (None: no row)."""
    import sqlalchemy as sa

    with stash.sessionmaker() as session:
        query = sa.select(stash.table.c.fields).where(stash._get_field_filter("id", uid))
        return session.execute(query).scalar_one_or_none()


def count_rows(stash: Any, credentials: Any, filters: dict[str, Any]) -> int:
    """How many rows ``stash.get_all(credentials, filters)`` would return, none deserialized."""
    return len(rows(stash, credentials, filters))


def count_history_rows() -> None:
    from syft.service.policy.policy import OutputPolicyExecuteCount

    count: Callable[..., Any] = OutputPolicyExecuteCount.count
    if getattr(count, "counts_rows", False):
        return

    @functools.wraps(count)
    def counted(self: Any, context: Any = None) -> int:
        if context is None:  # syft's client side
            return int(count(self, context))
        stash = context.server.services.output.stash  # as get_by_output_policy_id reads it
        return count_rows(stash, context.server.verify_key, {"output_policy_id": self.id})

    counted.counts_rows = True  # type: ignore[attr-defined]
    OutputPolicyExecuteCount.count = counted  # type: ignore[method-assign]


def read_history_when_used() -> None:
    from syft.service.code.user_code import UserCode
    from syft.types.result import Ok

    history: Callable[..., Any] = UserCode.get_output_history
    if getattr(history, "reads_when_used", False):
        return

    @functools.wraps(history)
    def get_output_history(self: Any, context: Any) -> Any:
        return Ok(LazyHistory(lambda: history(self, context).unwrap()))

    get_output_history.reads_when_used = True  # type: ignore[attr-defined]
    UserCode.get_output_history = get_output_history  # type: ignore[method-assign]


def install() -> None:
    count_history_rows()
    read_history_when_used()
