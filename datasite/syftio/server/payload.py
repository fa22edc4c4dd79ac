"""syft 0.9.5 walks every service result element by element, bytes included.

``service_method`` (``syft/service/service.py``) passes each service's result to
``attach_attribute_to_syft_object``, which sets the server's location on every syft object it
finds: it recurses into each field of a syft object and iterates anything that is a
``Sequence``. ``bytes`` and ``str`` are Sequences, so a blob read (``blob_storage.read``,
whose ``SyftObjectRetrieval`` carries the blob as one ``bytes`` field) is iterated byte by
byte, each byte through pydantic's slow ``isinstance``. Every asset an approved function
binds is loaded that way at every call: py-spy put it at 247 of 809 samples of a training
call's ``_user_code_execute`` in the demo (320 images of 64 px per asset).

An element of ``bytes`` is an int and an element of ``str`` a str: neither is ever a syft
object, so the walk returns at once for them and attaches exactly what it attached before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

PAYLOADS = (bytes, bytearray, memoryview, str)


def skip_payload_walk() -> None:
    """Make ``attach_attribute_to_syft_object`` return at once for bytes-like and str."""
    from syft.service import service
    from syft.types import syft_object

    original: Callable[..., None] = syft_object.attach_attribute_to_syft_object
    if getattr(original, "skips_payloads", False):
        return

    @functools.wraps(original)
    def attach(result: Any, attr_dict: dict[str, Any]) -> None:
        if isinstance(result, PAYLOADS):
            return None
        return original(result, attr_dict)

    attach.skips_payloads = True  # type: ignore[attr-defined]
    # The recursion inside the original looks its own name up in the module: it lands here.
    syft_object.attach_attribute_to_syft_object = attach
    service.attach_attribute_to_syft_object = attach  # type: ignore[attr-defined]
