"""Per-site acquisition presets: what differs between hospitals' exports.

Pick one per site with ``datasite synth --shift NAME`` to make a federation IID (same preset
everywhere) or deliberately non-IID (different vendors, bit depths, noise and prevalence).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from datasite.errors import ConfigError

# Transfer syntax UIDs (the values of pydicom.uid's constants, as plain strings so that the
# CLI's help text, which lists these presets, does not import pydicom).
ExplicitVRLittleEndian = "1.2.840.10008.1.2.1"
ImplicitVRLittleEndian = "1.2.840.10008.1.2"
DeflatedExplicitVRLittleEndian = "1.2.840.10008.1.2.1.99"
RLELossless = "1.2.840.10008.1.2.5"
JPEG2000Lossless = "1.2.840.10008.1.2.4.90"

CR_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1"
DX_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.1.1"  # DX for presentation
FULL_FIELD_MM = 357.0  # about 2500 px at 0.143 mm, the median chest detector


@dataclass(frozen=True)
class SiteShift:
    """How one site's scanners and population look in its DICOM export."""

    name: str
    summary: str
    manufacturer: str
    model: str
    modality: str  # CR or DX; "mixed" draws each file
    monochrome1_fraction: float  # share of MONOCHROME1 files
    bits_stored: tuple[int, ...]
    field_mm: float  # detector height; spacing = field_mm / rows
    aspect: float  # columns / rows
    noise: float  # pixel noise std on the [0, 1] attenuation scale
    prevalence: float  # share of images with a focal opacity
    rescale: tuple[float, float]  # slope, intercept written when != (1, 0)
    window_fraction: float  # share of files with a VOI window (the rest have none)
    charset: str  # ISO_IR 100 (Latin-1) or ISO_IR 192 (UTF-8)
    transfer_syntaxes: tuple[tuple[str, float], ...]  # (uid, weight)


_MIXED_SYNTAXES = (
    (ExplicitVRLittleEndian, 0.35),
    (ImplicitVRLittleEndian, 0.15),
    (RLELossless, 0.2),
    (JPEG2000Lossless, 0.2),
    (DeflatedExplicitVRLittleEndian, 0.1),
)

PRESETS: dict[str, SiteShift] = {
    preset.name: preset
    for preset in (
        SiteShift(
            "balanced", "mixed vendors, CR+DX, MONO1+MONO2, 10/12/15 bit, prevalence 0.5",
            "Mixed", "Mixed", "mixed", 0.5, (10, 12, 15), FULL_FIELD_MM, 0.86, 0.02, 0.5,
            (1.0, 0.0), 0.7, "ISO_IR 192", _MIXED_SYNTAXES,
        ),
        SiteShift(
            "fuji-cr", "Fujifilm CR, MONOCHROME1, 10 bit, RLE, low noise, prevalence 0.3",
            "FUJIFILM Corporation", "FCR Velocity", "CR", 1.0, (10,), 350.0, 0.82, 0.015,
            0.3, (1.0, 0.0), 1.0, "ISO_IR 100",
            ((RLELossless, 0.6), (ExplicitVRLittleEndian, 0.4)),
        ),
        SiteShift(
            "agfa-cr", "Agfa CR, MONOCHROME1, 12 bit, rescale 0.684/200, JPEG 2000, noisy",
            "Agfa", "CR 85-X", "CR", 0.8, (12,), 360.0, 0.84, 0.03, 0.5, (0.684, 200.0),
            0.5, "ISO_IR 100", ((JPEG2000Lossless, 0.7), (ImplicitVRLittleEndian, 0.3)),
        ),
        SiteShift(
            "ge-dx", "GE DX, MONOCHROME2, 12 bit, multi-valued windows, prevalence 0.5",
            "GE Healthcare", "Definium 8000", "DX", 0.0, (12,), 410.0, 1.0, 0.02, 0.5,
            (1.0, 0.0), 1.0, "ISO_IR 192",
            ((ExplicitVRLittleEndian, 0.7), (DeflatedExplicitVRLittleEndian, 0.3)),
        ),
        SiteShift(
            "philips-dx", "Philips DX, MONOCHROME2, 15 bit, UTF-8 names, noisy, prevalence 0.7",
            "Philips Medical Systems", "DigitalDiagnost", "DX", 0.1, (15,), 430.0, 0.9,
            0.035, 0.7, (1.0, 0.0), 0.8, "ISO_IR 192",
            ((JPEG2000Lossless, 0.5), (ExplicitVRLittleEndian, 0.5)),
        ),
    )
}  # fmt: skip


def preset(name: str, prevalence: float | None = None, noise: float | None = None) -> SiteShift:
    """The preset called ``name``, with optional prevalence / noise overrides."""
    if name not in PRESETS:
        raise ConfigError(f"--shift '{name}' is unknown; choose one of: {', '.join(PRESETS)}.")
    shift = PRESETS[name]
    if prevalence is not None:
        if not 0.0 <= prevalence <= 1.0:
            raise ConfigError(f"--prevalence {prevalence} must be between 0 and 1.")
        shift = replace(shift, prevalence=prevalence)
    if noise is not None:
        if not 0.0 <= noise <= 0.5:
            raise ConfigError(f"--noise {noise} must be between 0 and 0.5.")
        shift = replace(shift, noise=noise)
    return shift


def presets_help() -> str:
    return "; ".join(f"{p.name}: {p.summary}" for p in PRESETS.values())
