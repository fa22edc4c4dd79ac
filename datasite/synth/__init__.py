"""Seeded synthetic hospital exports: chest radiograph DICOM files with fake PHI.

The names below load their module on first use, so that ``datasite --help`` (which lists the
presets of :mod:`datasite.synth.shifts`) does not import pydicom and numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datasite.synth.generate import CLASS_NAMES as CLASS_NAMES
    from datasite.synth.generate import SynthConfig as SynthConfig
    from datasite.synth.generate import SynthSummary as SynthSummary
    from datasite.synth.generate import generate_site as generate_site
    from datasite.synth.shifts import PRESETS as PRESETS
    from datasite.synth.shifts import SiteShift as SiteShift
    from datasite.synth.shifts import preset as preset

_HOME = {
    "CLASS_NAMES": "generate",
    "SynthConfig": "generate",
    "SynthSummary": "generate",
    "generate_site": "generate",
    "PRESETS": "shifts",
    "SiteShift": "shifts",
    "preset": "shifts",
}
__all__ = [
    "CLASS_NAMES",
    "PRESETS",
    "SiteShift",
    "SynthConfig",
    "SynthSummary",
    "generate_site",
    "preset",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
