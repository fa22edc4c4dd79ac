"""A faster datasite start: import syft 0.9.5 without what the server needs only later.

``import syft`` is most of a datasite's launch-to-ready time (measured: 7.9 s of CPU here).
Two of its imports serve nothing a starting server does, and cost about 37% of that CPU:

- ``torch``: syft registers a serializer for ``torch.Tensor`` when torch imports
  (``syft/serde/third_party.py``). We block torch during the import, and once the server is
  up a background thread imports it and makes the same three registrations, so a tensor
  argument still deserializes; the site function imports torch itself when it runs.
- ``itables`` (pandas' Styler and matplotlib with it): syft renders notebook tables with it.
  It becomes a lazy module, loaded on first attribute use, which a server never makes.

Pinned to syft 0.9.5 (the registrations copy its ``serde/third_party.py``); proved by
tests/integration/test_fast_start.py (a tensor round trip through a site started this way).
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import sys
import threading
import types
from typing import Any

log = logging.getLogger(__name__)
SYFT_VERSION = "0.9.5"
DEFERRED = ("torch",)
LAZY = ("itables",)


class _OnDemand(types.ModuleType):
    """Stands in for a module until one of its attributes is read, then imports it.

    (``importlib.util.LazyLoader`` does not do here: on 3.11 the import statement itself
    reads ``__spec__`` of a module found in ``sys.modules``, which loads it at once.)
    """

    def __getattr__(self, attr: str) -> Any:
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def _lazy(name: str) -> None:
    if name not in sys.modules and importlib.util.find_spec(name) is not None:
        sys.modules[name] = _OnDemand(name)


def import_syft() -> Any:
    """``import syft`` with torch deferred, itables lazy and the cyclic collector paused (the
    import makes half a million long-lived objects and little garbage: ``settle_heap``
    collects once afterwards); returns the syft module."""
    if "syft" in sys.modules:
        return sys.modules["syft"]
    for name in LAZY:
        _lazy(name)
    blocked = [name for name in DEFERRED if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ImportError
    collecting = gc.isenabled()
    gc.disable()  # nine full collections during the import (launch_ready: ~6% of its CPU)
    try:
        import syft
    finally:
        if collecting:
            gc.enable()
        for name in blocked:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]
    if syft.__version__ != SYFT_VERSION:
        raise RuntimeError(f"startup targets syft=={SYFT_VERSION}, found {syft.__version__}")
    return syft


def cheap_array_reprs() -> None:
    """Arrays of more than ``fedcommon.arrays.SMALL`` elements print as shape and dtype.

    syft 0.9.5 renders ``repr`` and ``str`` of an object's data every time an ActionObject is
    validated (``ActionObject.__check_action_data``: each asset load, uploaded argument and
    stored result) and keeps only the first characters. Arrays below numpy's default
    threshold (1000 elements: every layer of a small CNN) were printed in full (py-spy: 0.22 s
    of a site's ~1.3 s of work around each training call); summarised, a weights dict of 30
    layers still cost 24 ms per rendering, several renderings per call. As shape and dtype:
    0.5 ms. With a threshold of 64 elements the biases and norm layers (16-64 values each)
    were still printed in full: 77 of 445 py-spy samples of a site's CPU in a round
    (benchmarks.round_overhead). Arrays of at most 8 elements keep numpy's own text.
    """
    from fedcommon.arrays import use_brief_text

    use_brief_text()


def deferred_pending() -> bool:
    """Whether syft was imported without torch (so its serializer still needs registering)."""
    from syft.types.syft_object_registry import SyftObjectRegistry

    return "torch_tensor" not in SyftObjectRegistry.__object_serialization_registry__


def register_torch_serde() -> None:
    """Import torch and register syft's ``torch.Tensor`` serializer (as syft 0.9.5 does)."""
    import torch
    from syft.serde.array import numpy_deserialize, numpy_serialize
    from syft.serde.recursive_primitives import (
        recursive_serde_register,
        recursive_serde_register_type,
    )
    from torch._C import _TensorMeta

    def serialize(tensor: Any) -> bytes:
        data: bytes = numpy_serialize(tensor.numpy())
        return data

    def deserialize(buffer: bytes) -> Any:
        return torch.from_numpy(numpy_deserialize(buffer))

    recursive_serde_register_type(_TensorMeta, canonical_name="torch_tensor_meta", version=1)
    recursive_serde_register_type(torch.Tensor, canonical_name="torch_tensor", version=1)
    recursive_serde_register(
        torch.Tensor,
        serialize=serialize,
        deserialize=deserialize,
        canonical_name="torch_tensor",
        version=1,
    )


def finish_start_in_background() -> threading.Thread:
    """In a daemon thread, started once the server is up: load torch (and its serde) where
    the fast start left it out, then :func:`settle_heap`. Neither delays the site's readiness.
    """

    def work() -> None:
        if deferred_pending():
            try:
                register_torch_serde()
                log.info("torch loaded and its syft serializer registered")
            except Exception:
                log.exception("could not load torch; training calls will fail")
        settle_heap()

    thread = threading.Thread(target=work, name="finish-start", daemon=True)
    thread.start()
    return thread


def settle_heap() -> None:
    """Collect once, then exempt everything start-up made from later full collections.

    Python's collector runs a full pass every so often, in whichever thread allocates, and
    each pass walks every tracked object: with syft and torch loaded that is over half a
    million (``benchmarks/gc_pause``: 0.35 s a pass); a site's full passes took 0.36-0.68 s
    here, and py-spy showed a 0.59 s stall of that kind inside an approved call's reply.
    ``gc.freeze`` moves the start-up heap to a generation no pass walks (a pass then takes
    well under a millisecond); what requests create is still collected. Objects frozen here
    that later become cyclic garbage are not freed: start-up objects live as long as the
    server does.
    """
    gc.collect()
    gc.freeze()
    log.info("start-up heap frozen (%d objects)", gc.get_freeze_count())
