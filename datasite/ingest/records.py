"""What happened to each file: status, reason, warnings (the per-file ingestion report rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit


class Status(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # not an image file (labels CSV, reports, notes): listed, never read


class RejectReason(StrEnum):
    UNREADABLE = "unreadable"  # neither DICOM nor a PNG/JPEG image
    TRUNCATED = "truncated"  # the file ends before its pixel data does
    NO_PIXEL_DATA = "no_pixel_data"
    NON_IMAGE_SOP_CLASS = "non_image_sop_class"  # SR, RT, waveform, PDF, SEG, DICOMDIR...
    UNSUPPORTED_PHOTOMETRIC = "unsupported_photometric"  # colour / palette images
    MULTI_FRAME = "multi_frame"  # volumes and cine loops are not radiographs
    BURNED_IN_ANNOTATION = "burned_in_annotation"  # text in pixels cannot be de-identified
    DECODE_FAILED = "decode_failed"  # compressed pixel data no installed decoder could read
    MISSING_LABEL = "missing_label"
    DUPLICATE_SOP_INSTANCE = "duplicate_sop_instance"
    DUPLICATE_FILE = "duplicate_file"  # byte-identical plain image


class Warn(StrEnum):
    NO_VOI_WINDOW = "no_voi_window"  # windowed at the 0.5-99.5 percentiles instead
    UNEXPECTED_MODALITY = "unexpected_modality"  # neither CR, DX nor a plain image
    ANISOTROPIC_SPACING = "anisotropic_spacing"  # resized to physical aspect
    PLAIN_IMAGE = "plain_image"  # PNG/JPEG: no header, no pixel spacing


class IngestError(DatasiteError):
    """Ingestion cannot go on at all (bad labels file, nothing accepted, bad options)."""

    exit_code = DatasiteExit.INGEST_IMPOSSIBLE


class DatasetExistsError(IngestError):
    exit_code = DatasiteExit.DATASET_EXISTS


class PhiLeakError(IngestError):
    """--verify found a source identifier in what would be uploaded; nothing was uploaded."""

    exit_code = DatasiteExit.PHI_FOUND


class Rejected(Exception):
    """Raised inside the per-file pipeline; caught per file, never stops the run."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class FileRecord:
    """One row of the ingestion report (stays at the site: may name local files)."""

    file: str
    status: Status
    reason: str = ""
    detail: str = ""
    warnings: list[str] = field(default_factory=list)
    split: str = ""  # train / val for accepted files
    label: int | None = None

    def row(self) -> dict[str, str]:
        return {
            "file": self.file,
            "status": self.status.value,
            "reason": self.reason,
            "detail": self.detail,
            "warnings": ";".join(self.warnings),
            "split": self.split,
            "label": "" if self.label is None else str(self.label),
        }
