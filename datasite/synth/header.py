"""DICOM Part-10 headers of a chest radiograph export, fake PHI included.

Every identifying value written is also appended to ``phi`` so that tests can prove none of
them survives ingestion. The layout follows real CR / DX exports (DATA.md): PHI at the top
level, inside RequestAttributesSequence / ReferencedPatientSequence / OtherPatientIDsSequence,
and in a private-creator block, with UIDs from the hospital's own org root.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from numpy.typing import NDArray
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ImplicitVRLittleEndian, generate_uid

from datasite.synth.phi import Patient, Visit
from datasite.synth.shifts import CR_SOP_CLASS, DX_SOP_CLASS

Array = NDArray[Any]

PRIVATE_GROUP = 0x0029
PRIVATE_CREATOR = "FICTIVE PACS EXPORT 1.0"


@dataclass(frozen=True)
class Acquisition:
    """Everything about one file except who it belongs to."""

    stored: Array  # uint16, rows x cols, stored pixel values
    modality: str
    photometric: str
    bits_stored: int
    spacing_mm: float
    view: str
    slope: float
    intercept: float
    windows: tuple[tuple[float, float], ...]  # (center, width) pairs; empty = none
    transfer_syntax: str
    manufacturer: str
    model: str
    charset: str


@dataclass
class PhiLog:
    """Every fake identifying string written to any file (ground truth for tests)."""

    values: list[str] = field(default_factory=list)

    def add(self, *values: str) -> None:
        self.values.extend(v for v in values if v)


def _uid(root: str, *entropy: str) -> str:
    return str(generate_uid(prefix=root, entropy_srcs=list(entropy)))


def _patient_module(ds: Dataset, who: Patient, age: str, phi: PhiLog) -> None:
    ds.PatientName = who.name
    ds.PatientID = who.mrn
    ds.IssuerOfPatientID = "FICTIVE-MRN"
    ds.PatientBirthDate = who.birth_date.strftime("%Y%m%d")
    ds.PatientAge = age
    ds.PatientSex = who.sex
    ds.PatientAddress = who.address
    ds.PatientTelephoneNumbers = who.phone
    other = Dataset()
    other.PatientID = who.other_id
    other.IssuerOfPatientID = "NATIONAL-REGISTRY"
    ds.OtherPatientIDsSequence = [other]
    phi.add(who.name, who.mrn, "FICTIVE-MRN", ds.PatientBirthDate, age, who.address)
    phi.add(who.phone, who.other_id, "NATIONAL-REGISTRY")


def _study_module(ds: Dataset, visit: Visit, root: str, who: Patient, phi: PhiLog) -> None:
    day = visit.day.strftime("%Y%m%d")
    ds.StudyInstanceUID = _uid(root, who.mrn, visit.accession)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day
    ds.InstanceCreationDate = day
    ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = visit.time
    ds.InstanceCreationTime = visit.time
    ds.AccessionNumber = visit.accession
    ds.StudyID = visit.study_id
    ds.ReferringPhysicianName = visit.referring
    ds.PerformingPhysicianName = visit.performing
    ds.OperatorsName = visit.operator
    ds.InstitutionName = visit.institution
    ds.InstitutionAddress = f"1 Nowhere Plaza, {visit.institution}"
    ds.StationName = visit.station
    ds.DeviceSerialNumber = visit.device_serial
    referrer = visit.referring.split("^")[0]
    ds.StudyDescription = f"CHEST 1 VIEW (ref. Dr {referrer})"
    phi.add(ds.StudyInstanceUID, day, visit.time, visit.accession, visit.study_id)
    phi.add(visit.referring, visit.performing, visit.operator, visit.institution)
    phi.add(ds.InstitutionAddress, visit.station, visit.device_serial, ds.StudyDescription)


def _sequences(ds: Dataset, visit: Visit, root: str, who: Patient, phi: PhiLog) -> None:
    request = Dataset()
    request.RequestedProcedureID = f"RP{visit.accession[3:]}"
    request.ScheduledProcedureStepID = f"SPS{visit.study_id[1:]}"
    request.RequestedProcedureDescription = f"CXR for {who.name.split('^')[0]}"
    ds.RequestAttributesSequence = [request]
    referenced = Dataset()
    referenced.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.1.1"  # Detached Patient Mgmt
    referenced.ReferencedSOPInstanceUID = _uid(root, who.mrn, "patient")
    ds.ReferencedPatientSequence = [referenced]
    phi.add(request.RequestedProcedureID, request.ScheduledProcedureStepID)
    phi.add(request.RequestedProcedureDescription, referenced.ReferencedSOPInstanceUID)


def _private_block(ds: Dataset, visit: Visit, who: Patient, phi: PhiLog) -> None:
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR, create=True)
    block.add_new(0x10, "LO", f"{who.name.replace('^', ' ')}")
    block.add_new(0x11, "LO", who.mrn)
    block.add_new(0x12, "LO", f"Reported by {visit.performing.replace('^', ' ')}")
    phi.add(who.name.replace("^", " "), f"Reported by {visit.performing.replace('^', ' ')}")


def _image_module(ds: Dataset, acq: Acquisition) -> None:
    ds.Modality = acq.modality
    ds.Manufacturer = acq.manufacturer
    ds.ManufacturerModelName = acq.model
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = acq.view
    ds.SeriesDescription = f"CHEST {acq.view}"
    ds.Rows, ds.Columns = acq.stored.shape
    spacing = [round(acq.spacing_mm, 4)] * 2
    ds.ImagerPixelSpacing = spacing
    ds.PixelSpacing = spacing
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = acq.photometric
    ds.PresentationLUTShape = "INVERSE" if acq.photometric == "MONOCHROME1" else "IDENTITY"
    ds.BitsAllocated = 16
    ds.BitsStored = acq.bits_stored
    ds.HighBit = acq.bits_stored - 1
    ds.PixelRepresentation = 0
    ds.BurnedInAnnotation = "NO"
    if (acq.slope, acq.intercept) != (1.0, 0.0):
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = acq.slope, acq.intercept, "US"
    if acq.windows:
        centers = [round(c, 1) for c, _ in acq.windows]
        widths = [round(w, 1) for _, w in acq.windows]
        ds.WindowCenter = centers if len(centers) > 1 else centers[0]
        ds.WindowWidth = widths if len(widths) > 1 else widths[0]
    ds.PixelData = acq.stored.astype("<u2").tobytes()


def build(acq: Acquisition, who: Patient, visit: Visit, root: str, phi: PhiLog) -> FileDataset:
    """A complete Part-10 dataset in ``acq.transfer_syntax`` (compressed if it says so)."""
    meta = FileMetaDataset()
    sop_class = CR_SOP_CLASS if acq.modality == "CR" else DX_SOP_CLASS
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = _uid(root, who.mrn, visit.accession, "image")
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = acq.charset
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    _patient_module(ds, who, who.age_on(visit.day), phi)
    _study_module(ds, visit, root, who, phi)
    ds.SeriesInstanceUID = _uid(root, who.mrn, visit.accession, "series")
    _sequences(ds, visit, root, who, phi)
    _private_block(ds, visit, who, phi)
    _image_module(ds, acq)
    phi.add(ds.SOPInstanceUID, ds.SeriesInstanceUID)
    _encode(ds, acq.transfer_syntax)
    return ds


def _encode(ds: FileDataset, transfer_syntax: str) -> None:
    from pydicom.uid import UID

    uid = UID(transfer_syntax)
    if uid.is_compressed and not uid.is_deflated:
        ds.compress(uid, generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = uid
