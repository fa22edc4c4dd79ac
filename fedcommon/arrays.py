"""Array text for syft's object reprs: large arrays print as shape and dtype.

syft 0.9.5 renders ``repr`` and ``str`` of an object's data each time an ActionObject is
created or deserialized (``ActionObject.__check_action_data``) and keeps the first 100
characters. For a weights dict that prints every layer: 24 ms per rendering, several per
call, on the site and on the researcher's side. Both sides use this text while syft handles
a call: the datasite for its whole process, the researcher only during a call (see
:func:`brief_arrays`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

SMALL = 8  # arrays of at most this many elements keep numpy's own text


def brief(array: Any, render: Callable[[Any], str]) -> str:
    if array.size <= SMALL:
        return str(render(array))
    return f"array(shape={array.shape}, dtype={array.dtype})"


def use_brief_text() -> None:
    """Large arrays print as shape and dtype in this process (until :func:`use_numpy_text`)."""
    np.set_string_function(lambda a: brief(a, np.array_repr), repr=True)
    np.set_string_function(lambda a: brief(a, np.array_str), repr=False)


def use_numpy_text() -> None:
    np.set_string_function(None, repr=True)
    np.set_string_function(None, repr=False)


_lock = threading.Lock()
_depth = 0


@contextlib.contextmanager
def brief_arrays() -> Iterator[None]:
    """Brief array text while the block runs (nested and concurrent blocks share it; numpy's
    own text is back when the last one ends)."""
    global _depth
    with _lock:
        if _depth == 0:
            use_brief_text()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                use_numpy_text()
