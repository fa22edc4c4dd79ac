"""Content gates an admin states: which images a dataset may hold, checked from the header.

Every check runs before any pixel is decoded and raises ``Rejected`` with the reason the report
prints. Defaults take radiographs only (CR, DX). Text burned into pixels cannot be removed by
header de-identification, so a file passes only when its header says ``BurnedInAnnotation NO``
and its modality is not one that usually carries text (ultrasound, secondary captures...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydicom.uid import UID

from datasite.ingest.records import BurnedInPolicy, Rejected, RejectReason

RADIOGRAPH_MODALITIES = frozenset({"CR", "DX"})
TEXT_BEARING_MODALITIES = frozenset({"US", "SC", "XC", "ES", "GM", "SM", "DOC", "OP", "IVUS"})
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"  # SC image storage and its multi-frames
PLAIN_MODALITY = "OT"  # what a PNG/JPEG without a header counts as
NON_IMAGE_SOP_MARKERS = (
    "SR Storage", "RT ", "Waveform", "Encapsulated", "Presentation State", "Directory",
    "Segmentation", "Raw Data", "Spectroscopy", "Key Object", "Document",
)  # fmt: skip
# Image storage SOP classes per modality; a file whose modality is listed must use one.
SOP_CLASSES: dict[str, frozenset[str]] = {
    "CR": frozenset({"1.2.840.10008.5.1.4.1.1.1"}),
    "DX": frozenset({"1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1"}),
    "MG": frozenset({"1.2.840.10008.5.1.4.1.1.1.2", "1.2.840.10008.5.1.4.1.1.1.2.1"}),
    "CT": frozenset({"1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1"}),
    "MR": frozenset({"1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.5.1.4.1.1.4.1"}),
    "NM": frozenset({"1.2.840.10008.5.1.4.1.1.20"}),
    "US": frozenset({"1.2.840.10008.5.1.4.1.1.6.1", "1.2.840.10008.5.1.4.1.1.3.1"}),
}
PIXEL_BITS = frozenset({8, 16})


@dataclass(frozen=True)
class GateOptions:
    modalities: frozenset[str] = RADIOGRAPH_MODALITIES
    body_parts: frozenset[str] | None = None  # None: any
    burned_in: BurnedInPolicy = BurnedInPolicy.STRICT

    def describe(self) -> str:
        parts = f"; --body-part {','.join(sorted(self.body_parts))}" if self.body_parts else ""
        return f"--modality {','.join(sorted(self.modalities))}{parts}"


def parse_codes(text: str, flag: str) -> frozenset[str]:
    """``"cr, dx"`` -> ``{"CR", "DX"}``; the flag names itself in the error."""
    from datasite.ingest.records import IngestError

    codes = frozenset(c.strip().upper() for c in text.split(",") if c.strip())
    if not codes or not all(c.replace("_", "").isalnum() for c in codes):
        raise IngestError(f"{flag} '{text}': give comma-separated codes, e.g. {flag} CR,DX.")
    return codes


def _text(ds: Any, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip().upper()


def check_sop_class(ds: Any) -> str:
    """The SOP class's name; non-image classes are refused."""
    uid = str(ds.get("SOPClassUID", "") or "")
    name = UID(uid).name if uid else ""
    if any(marker in name for marker in NON_IMAGE_SOP_MARKERS):
        raise Rejected(RejectReason.NON_IMAGE_SOP_CLASS, name)
    if "PixelData" not in ds:
        raise Rejected(RejectReason.NO_PIXEL_DATA, name or "no SOP class")
    return uid


def check_modality(ds: Any, uid: str, gates: GateOptions) -> str:
    modality = _text(ds, "Modality") or PLAIN_MODALITY
    if modality not in gates.modalities:
        raise Rejected(RejectReason.MODALITY_NOT_REQUESTED, f"{modality}; {gates.describe()}")
    allowed = SOP_CLASSES.get(modality)
    secondary = uid.startswith(SECONDARY_CAPTURE_PREFIX)  # any modality; text gate decides
    if uid and allowed is not None and uid not in allowed and not secondary:
        raise Rejected(RejectReason.SOP_CLASS_MISMATCH, f"{UID(uid).name} says {modality}")
    if gates.body_parts is not None:
        part = _text(ds, "BodyPartExamined")
        if part not in gates.body_parts:
            raise Rejected(RejectReason.BODY_PART_NOT_REQUESTED, part or "not stated")
    return modality


def check_pixel_header(ds: Any) -> None:
    """Grey-scale, one frame, 8/16-bit storage with consistent bit fields."""
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise Rejected(RejectReason.MULTI_FRAME, f"{ds.NumberOfFrames} frames")
    photometric = _text(ds, "PhotometricInterpretation")
    if photometric not in ("MONOCHROME1", "MONOCHROME2") or ds.get("SamplesPerPixel", 1) != 1:
        raise Rejected(RejectReason.UNSUPPORTED_PHOTOMETRIC, photometric or "missing")
    allocated = int(ds.get("BitsAllocated", 0) or 0)
    stored = int(ds.get("BitsStored", allocated) or 0)
    if allocated not in PIXEL_BITS or not 1 <= stored <= allocated:
        raise Rejected(
            RejectReason.INCONSISTENT_PIXEL_HEADER,
            f"BitsAllocated {allocated}, BitsStored {stored}",
        )


def check_burned_in(ds: Any, uid: str, modality: str, policy: BurnedInPolicy) -> None:
    flag = _text(ds, "BurnedInAnnotation")
    if flag == "YES":
        raise Rejected(RejectReason.BURNED_IN_ANNOTATION, "BurnedInAnnotation YES")
    text_bearing = modality in TEXT_BEARING_MODALITIES or uid.startswith(SECONDARY_CAPTURE_PREFIX)
    if text_bearing and policy is not BurnedInPolicy.TRUST_HEADER:
        what = "secondary capture" if uid.startswith(SECONDARY_CAPTURE_PREFIX) else modality
        raise Rejected(RejectReason.TEXT_BEARING_MODALITY, f"{what} usually carries text")
    missing_ok = policy is BurnedInPolicy.ALLOW_MISSING and not text_bearing
    if flag != "NO" and not (flag == "" and missing_ok):
        raise Rejected(RejectReason.BURNED_IN_UNKNOWN, f"BurnedInAnnotation {flag or 'absent'}")


def check_all(ds: Any, gates: GateOptions) -> str:
    """Run every gate on a DICOM header; returns the (coded) modality."""
    uid = check_sop_class(ds)
    modality = check_modality(ds, uid, gates)
    check_burned_in(ds, uid, modality, gates.burned_in)
    check_pixel_header(ds)
    return modality


def check_plain(gates: GateOptions) -> None:
    """A PNG/JPEG has no header: it counts as modality OT with an unknown burned-in flag."""
    if PLAIN_MODALITY not in gates.modalities:
        raise Rejected(
            RejectReason.MODALITY_NOT_REQUESTED,
            f"plain image (counts as {PLAIN_MODALITY}); {gates.describe()}",
        )
    if gates.burned_in is not BurnedInPolicy.ALLOW_MISSING:
        raise Rejected(RejectReason.BURNED_IN_UNKNOWN, "plain image: no header says NO")
