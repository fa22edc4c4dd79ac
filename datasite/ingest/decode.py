"""One file in, one result out: read, gate, check the budget, decode, window, resize, code.

``process_file`` never raises: any failure becomes a rejected result with a reason (for the
report) and a detail (for the local log only). It runs in worker processes, so its inputs and
outputs are plain picklable values and it keeps no identifier except keyed hashes.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from datasite.ingest import deid, gates, pixels, reading
from datasite.ingest.gates import GateOptions
from datasite.ingest.phi import phi_values
from datasite.ingest.records import DEFAULT_MAX_PIXELS, Rejected, RejectReason, Warn

Array = NDArray[Any]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileOptions:
    size: int
    key: bytes
    collect_phi: bool = False
    gates: GateOptions = field(default_factory=GateOptions)
    max_pixels: int = DEFAULT_MAX_PIXELS


@dataclass
class FileResult:
    rel: str
    reason: RejectReason | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    image: Array | None = None  # size x size uint8
    meta: dict[str, Any] | None = None  # coded fields + patient_key
    body_part: str = ""  # coded, for the generated description
    fingerprint: str = ""  # keyed hash of the SOP Instance UID
    pixel_hash: str = ""  # hash of the decoded stored values: same image, any encoding
    phi: dict[str, str] = field(default_factory=dict)  # value -> tag it came from


def pixel_hash(stored: Array) -> str:
    """Equal for equal decoded values whatever the transfer syntax or byte order."""
    values = np.ascontiguousarray(stored)
    if values.dtype.byteorder == ">":
        values = values.astype(values.dtype.newbyteorder("<"))
    digest = hashlib.blake2b(values.data, digest_size=16)
    digest.update(f"{values.dtype.kind}{values.dtype.itemsize}{values.shape}".encode())
    return digest.hexdigest()


def _aspect(ds: Any, warnings: list[str]) -> float:
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if not spacing or len(spacing) != 2 or not float(spacing[1]):
        return 1.0
    aspect = float(spacing[0]) / float(spacing[1])
    if abs(aspect - 1.0) > 0.01:
        warnings.append(Warn.ANISOTROPIC_SPACING)
    return aspect


def _from_dicom(ds: Any, rel: str, options: FileOptions, result: FileResult) -> None:
    if options.collect_phi:
        result.phi = phi_values(ds)
    gates.check_all(ds, options.gates)
    reading.check_budget(ds, options.max_pixels)
    stored = reading.decode(ds)
    result.pixel_hash = pixel_hash(stored)
    unit = pixels.to_display(ds, stored, result.warnings)
    aspect = _aspect(ds, result.warnings)
    result.image = pixels.to_uint8(pixels.square(unit, options.size, aspect))
    patient = str(ds.get("PatientID", "") or "") or f"file:{rel}"
    result.meta = {**deid.metadata_row(ds), "patient_key": deid.patient_key(options.key, patient)}
    result.body_part = deid.coded(ds.get("BodyPartExamined"), deid.BODY_PARTS)
    sop = str(ds.get("SOPInstanceUID", "") or "")
    result.fingerprint = deid.sop_fingerprint(options.key, sop) if sop else ""


def _from_plain(unit: Array, rel: str, options: FileOptions) -> FileResult:
    result = FileResult(rel=rel, warnings=[Warn.PLAIN_IMAGE])
    result.image = pixels.to_uint8(pixels.square(unit, options.size))
    result.pixel_hash = pixel_hash(pixels.to_uint8(unit))
    rows, cols = unit.shape[:2]
    result.meta = {
        "modality": gates.PLAIN_MODALITY, "view_position": "", "manufacturer": "",
        "photometric": "MONOCHROME2", "bits_stored": 8, "rows": rows, "columns": cols,
        "pixel_spacing_mm": float("nan"),
        "patient_key": deid.patient_key(options.key, f"file:{rel}"),
    }  # fmt: skip
    return result


def _process(path: Path, rel: str, options: FileOptions) -> FileResult:
    ds = reading.read_dicom(path, force=False, max_pixels=options.max_pixels)
    if ds is None:
        unit = reading.read_plain(path, options.max_pixels)
        if unit is not None:
            gates.check_plain(options.gates)
            return _from_plain(unit, rel, options)
        ds = reading.read_dicom(path, force=True, max_pixels=options.max_pixels)
        if ds is None or not ("PixelData" in ds or "SOPClassUID" in ds):
            raise Rejected(RejectReason.UNREADABLE, "neither DICOM nor a PNG/JPEG image")
    result = FileResult(rel=rel)
    _from_dicom(ds, rel, options, result)
    return result


def process_file(job: tuple[str, str], options: FileOptions) -> FileResult:
    """Process one ``(path, relative path)`` job; never raises."""
    path, rel = Path(job[0]), job[1]
    try:
        with warnings.catch_warnings():  # pydicom warns per odd element; the log keeps them
            warnings.simplefilter("ignore")
            return _process(path, rel, options)
    except Rejected as rejected:
        return FileResult(rel=rel, reason=rejected.reason, detail=rejected.detail[:300])
    except Exception as err:  # one bad file must never stop the run
        log.warning("rejected %s: unexpected %s", rel, type(err).__name__, exc_info=True)
        return FileResult(rel=rel, reason=RejectReason.UNREADABLE, detail=type(err).__name__)
