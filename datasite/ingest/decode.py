"""One file in, one result out: read, check, decode, window, resize, de-identify.

``process_file`` never raises: any failure becomes a rejected result with a reason (for the
report) and a detail (for the local log only). It runs in worker processes, so its inputs and
outputs are plain picklable values and it keeps no identifier except the keyed hashes.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from datasite.ingest import deid, pixels
from datasite.ingest.phi import phi_values
from datasite.ingest.records import Rejected, RejectReason, Warn

Array = NDArray[Any]

log = logging.getLogger(__name__)
IMAGE_MODALITIES = frozenset({"CR", "DX"})
NON_IMAGE_SOP_MARKERS = (
    "SR Storage", "RT ", "Waveform", "Encapsulated", "Presentation State", "Directory",
    "Segmentation", "Raw Data", "Spectroscopy", "Key Object", "Document",
)  # fmt: skip
TRUNCATION_HINTS = ("truncat", "end of file", "eof", "less than expected", "fewer bytes")


@dataclass(frozen=True)
class FileOptions:
    size: int
    key: bytes
    collect_phi: bool = False


@dataclass
class FileResult:
    rel: str
    reason: RejectReason | None = None
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    image: Array | None = None  # size x size uint8
    meta: dict[str, Any] | None = None  # allow-listed fields + patient_key
    fingerprint: str = ""
    phi: set[str] = field(default_factory=set)


def _truncation(err: BaseException) -> bool:
    text = f"{type(err).__name__} {err}".lower()
    return isinstance(err, EOFError) or any(hint in text for hint in TRUNCATION_HINTS)


def _read_dicom(path: Path, force: bool) -> Any:
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=force)
    except InvalidDicomError:
        return None
    except Exception as err:  # noqa: BLE001 - any parser failure is this file's problem
        reason = RejectReason.TRUNCATED if _truncation(err) else RejectReason.UNREADABLE
        raise Rejected(reason, f"{type(err).__name__}: {err}") from None
    ended = [str(w.message) for w in caught if "end of file" in str(w.message).lower()]
    if ended:  # pydicom keeps what it read before the cut and only warns
        raise Rejected(RejectReason.TRUNCATED, ended[0])
    return ds


def _read_plain(path: Path) -> Array | None:
    """A PNG/JPEG/... as float32 in [0, 1], or None when it is not a plain image."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
                values = np.asarray(img, dtype=np.float32)
                return pixels.percentile_window(values) if values.max() > 255 else values / 255
            return np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    except UnidentifiedImageError:
        return None
    except (OSError, ValueError, SyntaxError) as err:
        raise Rejected(RejectReason.TRUNCATED, f"{type(err).__name__}: {err}") from None


def _check_kind(ds: Any) -> None:
    sop_name = UID(str(ds.get("SOPClassUID", ""))).name
    if any(marker in sop_name for marker in NON_IMAGE_SOP_MARKERS):
        raise Rejected(RejectReason.NON_IMAGE_SOP_CLASS, sop_name)
    if "PixelData" not in ds:
        raise Rejected(RejectReason.NO_PIXEL_DATA, sop_name or "no SOP class")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        raise Rejected(RejectReason.MULTI_FRAME, f"{ds.NumberOfFrames} frames")
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in ("MONOCHROME1", "MONOCHROME2") or ds.get("SamplesPerPixel", 1) != 1:
        raise Rejected(RejectReason.UNSUPPORTED_PHOTOMETRIC, photometric or "missing")
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        raise Rejected(RejectReason.BURNED_IN_ANNOTATION, "BurnedInAnnotation YES")


def _decode(ds: Any) -> Array:
    try:
        stored = np.asarray(ds.pixel_array)
    except Exception as err:  # noqa: BLE001 - decoder errors come in every type
        reason = RejectReason.TRUNCATED if _truncation(err) else RejectReason.DECODE_FAILED
        raise Rejected(reason, f"{type(err).__name__}: {err}") from None
    if stored.ndim != 2:
        raise Rejected(RejectReason.MULTI_FRAME, f"pixel array of shape {stored.shape}")
    return stored


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
    _check_kind(ds)
    stored = _decode(ds)
    if str(ds.get("Modality", "")) not in IMAGE_MODALITIES:
        result.warnings.append(Warn.UNEXPECTED_MODALITY)
    unit = pixels.to_display(ds, stored, result.warnings)
    aspect = _aspect(ds, result.warnings)
    result.image = pixels.to_uint8(pixels.square(unit, options.size, aspect))
    patient = str(ds.get("PatientID", "") or "") or f"file:{rel}"
    result.meta = {**deid.metadata_row(ds), "patient_key": deid.patient_key(options.key, patient)}
    sop = str(ds.get("SOPInstanceUID", "") or "")
    result.fingerprint = deid.sop_fingerprint(options.key, sop) if sop else ""


def _from_plain(unit: Array, path: Path, rel: str, options: FileOptions) -> FileResult:
    result = FileResult(rel=rel, warnings=[Warn.PLAIN_IMAGE])
    result.image = pixels.to_uint8(pixels.square(unit, options.size))
    rows, cols = unit.shape[:2]
    result.meta = {
        "modality": "OT", "view_position": "", "manufacturer": "", "photometric": "MONOCHROME2",
        "bits_stored": 8, "rows": rows, "columns": cols, "pixel_spacing_mm": float("nan"),
        "patient_key": deid.patient_key(options.key, f"file:{rel}"),
    }  # fmt: skip
    result.fingerprint = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    return result


def _process(path: Path, rel: str, options: FileOptions) -> FileResult:
    ds = _read_dicom(path, force=False)
    if ds is None:
        unit = _read_plain(path)
        if unit is not None:
            return _from_plain(unit, path, rel, options)
        ds = _read_dicom(path, force=True)
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
        log.info("rejected %s: %s (%s)", rel, rejected.reason, rejected.detail)
        return FileResult(rel=rel, reason=rejected.reason, detail=rejected.detail[:300])
    except Exception as err:  # one bad file must never stop the run
        log.warning("rejected %s: unexpected %s", rel, type(err).__name__, exc_info=True)
        return FileResult(rel=rel, reason=RejectReason.UNREADABLE, detail=type(err).__name__)
