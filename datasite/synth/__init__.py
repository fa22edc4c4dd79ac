"""Seeded synthetic hospital exports: chest radiograph DICOM files with fake PHI."""

from datasite.synth.generate import CLASS_NAMES, SynthConfig, SynthSummary, generate_site
from datasite.synth.shifts import PRESETS, SiteShift, preset

__all__ = [
    "CLASS_NAMES",
    "PRESETS",
    "SiteShift",
    "SynthConfig",
    "SynthSummary",
    "generate_site",
    "preset",
]
