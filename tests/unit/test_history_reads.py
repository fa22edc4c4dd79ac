"""history_counted (datasite/syftio/server/history.py): the function's execution history that
syft's _call asks for is read only when something looks at it, and then once."""

from __future__ import annotations

from datasite.syftio.server.history import LazyHistory


def test_the_history_is_read_at_the_first_look_and_only_once() -> None:
    loads: list[int] = []

    def load() -> list[str]:
        loads.append(1)
        return ["first", "second", "last"]

    history = LazyHistory(load)
    assert loads == []  # a call that runs never looks at it
    assert len(history) > 0 and history[-1] == "last"  # a refused call answers from it
    assert history[:2] == ["first", "second"] and list(history) == ["first", "second", "last"]
    assert loads == [1]


def test_an_empty_history_reads_as_empty() -> None:
    assert len(LazyHistory(list)) == 0 and not list(LazyHistory(list))
