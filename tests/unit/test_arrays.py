"""Brief array text while syft handles a call (fedcommon.arrays)."""

from __future__ import annotations

import threading

import numpy as np

from fedcommon.arrays import brief_arrays


def test_large_arrays_print_briefly_only_inside_the_block() -> None:
    bias = np.zeros(16, dtype=np.float32)
    before = repr(bias)
    with brief_arrays():
        inside, small = repr(bias), repr(np.arange(3))
        text = str({"conv.bias": bias})
    assert inside == "array(shape=(16,), dtype=float32)"
    assert text == "{'conv.bias': array(shape=(16,), dtype=float32)}"
    assert small == repr(np.arange(3)) == "array([0, 1, 2])"  # small arrays: numpy's text
    assert repr(bias) == before and before.startswith("array([0., 0.,")  # numpy's text again


def test_concurrent_blocks_keep_brief_text_until_the_last_one_ends() -> None:
    bias = np.zeros(16, dtype=np.float32)
    entered, release = threading.Event(), threading.Event()
    seen: list[str] = []

    def other() -> None:
        with brief_arrays():
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    thread.start()
    entered.wait(10)
    with brief_arrays():
        pass
    seen.append(repr(bias))  # the other block is still running
    release.set()
    thread.join()
    seen.append(repr(bias))
    assert seen[0] == "array(shape=(16,), dtype=float32)"
    assert seen[1].startswith("array([0., 0.,")
