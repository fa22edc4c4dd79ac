"""What a patch of syft is (:class:`Patch`), when it applies (:class:`Stage`) and the check
that it meets the syft version it was written for; the registry is in
:mod:`datasite.syftio.server.patches`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from datasite.audit.log import AuditLog

SYFT_VERSION = "0.9.5"


class Stage(StrEnum):
    IMPORT = "import"  # before syft is imported
    CLASS = "class"  # before the Datasite exists
    WORKER = "worker"  # on the Datasite's service instances


@dataclass
class Runtime:
    """What worker patches need; ``audit`` is set by the audit hooks."""

    audit_dir: Path
    worker: Any = None
    audit: AuditLog | None = None
    applied: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Patch:
    name: str
    stage: Stage
    target: str
    why: str
    proof: str  # "path/to/test.py::test_name": fails without the patch
    apply: Callable[[Runtime], None]
    pinned: str = SYFT_VERSION


class PatchError(RuntimeError):
    """syft is not the version a patch was written for; nothing was patched."""


def check_version(patch: Patch) -> None:
    from importlib.metadata import version  # the installed version, without importing syft

    found = version("syft")
    if found != patch.pinned:
        raise PatchError(
            f"Patch {patch.name} targets syft=={patch.pinned}, found {found}. "
            "Install the pinned version (scripts/setup) or review the patch first."
        )
