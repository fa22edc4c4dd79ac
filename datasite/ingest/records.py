"""What happened to each file: status, reason, warnings (the per-file ingestion report rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from datasite.errors import DatasiteError
from fedcommon.exitcodes import DatasiteExit

DEFAULT_MAX_PIXELS = 40_000_000  # e.g. 6300 x 6300: every radiograph, far from a bomb


class BurnedInPolicy(StrEnum):
    """When a file may be trusted to carry no text in its pixels (``--burned-in``)."""

    STRICT = "strict"  # header must say NO and the modality must not usually carry text
    ALLOW_MISSING = "allow-missing"  # no flag counts as NO, for modalities without text
    TRUST_HEADER = "trust-header"  # NO is believed for every modality (you checked them)


class Status(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # not an image file (labels CSV, reports, notes): listed, never read


class RejectReason(StrEnum):
    """Why a file was left out, as the report prints it (one word per cause)."""

    # met while walking the folder
    SYMLINK_LOOP = "symlink_loop"  # a link back to one of its own parent folders, or a cycle
    DANGLING_LINK = "dangling_link"  # a link whose target does not exist
    LINK_OUTSIDE_SOURCE = "link_outside_source"  # a link to a file or folder elsewhere
    SYMLINKED_FOLDER = "symlinked_folder"  # a link to a folder inside the source: walked there
    NOT_A_REGULAR_FILE = "not_a_regular_file"  # fifo, socket, device
    UNREADABLE_FOLDER = "unreadable_folder"  # no permission to list it
    FETCH_FAILED = "fetch_failed"  # --dicomweb: the server would not send this instance
    # reading and decoding
    UNREADABLE = "unreadable"  # neither DICOM nor a PNG/JPEG image
    TRUNCATED = "truncated"  # the file ends before its pixel data does
    TOO_LARGE = "too_large"  # over --max-pixels, or inflates beyond what its header declares
    NO_PIXEL_DATA = "no_pixel_data"
    NON_IMAGE_SOP_CLASS = "non_image_sop_class"  # SR, RT, waveform, PDF, SEG, DICOMDIR...
    SOP_CLASS_MISMATCH = "sop_class_mismatch"  # e.g. a CT Image Storage file saying CR
    INCONSISTENT_PIXEL_HEADER = "inconsistent_pixel_header"  # bits, sizes, codestream disagree
    DECODE_FAILED = "decode_failed"  # compressed pixel data no installed decoder could read
    # content gates the admin states
    MODALITY_NOT_REQUESTED = "modality_not_requested"  # not in --modality (default CR,DX)
    BODY_PART_NOT_REQUESTED = "body_part_not_requested"  # not in --body-part
    UNSUPPORTED_PHOTOMETRIC = "unsupported_photometric"  # colour / palette images
    MULTI_FRAME = "multi_frame"  # volumes and cine loops are not radiographs
    BURNED_IN_ANNOTATION = "burned_in_annotation"  # header says YES: text in the pixels
    BURNED_IN_UNKNOWN = "burned_in_unknown"  # header does not say NO (see --burned-in)
    TEXT_BEARING_MODALITY = "text_bearing_modality"  # US, secondary capture...: text likely
    # labels and duplicates
    MISSING_LABEL = "missing_label"
    DUPLICATE_SOP_INSTANCE = "duplicate_sop_instance"
    DUPLICATE_PIXELS = "duplicate_pixels"  # same decoded image as an earlier file


class Warn(StrEnum):
    NO_VOI_WINDOW = "no_voi_window"  # windowed at the 0.5-99.5 percentiles instead
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


class NothingAcceptedError(IngestError):
    """Every file was left out; the report (written anyway) says why for each."""

    def __init__(self, message: str, records: list[FileRecord]) -> None:
        super().__init__(message)
        self.records = records


class PacsError(IngestError):
    """The DICOMweb server could not be reached or refused a request."""

    exit_code = DatasiteExit.PACS_UNREACHABLE


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
